"""The code location: what ``dagster dev`` and the webserver load. Assembly only."""

from dagster import Definitions

from export_pipelines.jobs import export_job

defs = Definitions(jobs=[export_job])

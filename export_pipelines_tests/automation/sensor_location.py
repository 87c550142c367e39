"""A second code location for the gate's end-to-end tests: a sensor of the deployment that asks for one export.

Its run reaches the gate from the daemon, with no token: trusted, since a sensor is the deployment's
own code. User ``parked-sensor`` is held in the queue by the test's concurrency limit, so nothing runs.
"""

from dagster import DefaultSensorStatus, Definitions, RunRequest, sensor

from export_pipelines.request.model import ExportRequest
from export_pipelines.run.jobs import export_job

SENSOR_REQUEST = ExportRequest(user="parked-sensor", dataset="orders", format="jsonl")


@sensor(job=export_job, minimum_interval_seconds=1, default_status=DefaultSensorStatus.RUNNING)
def nightly_export_sensor():
    yield RunRequest(run_key="once", run_config=SENSOR_REQUEST.run_config())


defs = Definitions(jobs=[export_job], sensors=[nightly_export_sensor])

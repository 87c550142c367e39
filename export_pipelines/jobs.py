"""export_job: one export, one run. validate -> collect -> transform (per chunk) -> render -> upload -> notify."""

from __future__ import annotations

from dagster import job

from export_pipelines.executors import export_executor
from export_pipelines.hooks import remove_staging_on_failure
from export_pipelines.ops.collect import collect_chunks
from export_pipelines.ops.deliver import notify_recipients, upload_file
from export_pipelines.ops.render import render_file
from export_pipelines.ops.transform import transform_chunk
from export_pipelines.ops.validate import validate_request
from export_pipelines.resources import default_resources


@job(
    executor_def=export_executor,
    hooks={remove_staging_on_failure},
    resource_defs=default_resources(),
    tags={"export/kind": "export"},
    description="Export a dataset to a file: validate the request, stage chunks, render, upload, notify.",
)
def export_job():
    plan = validate_request()
    shaped = collect_chunks(plan).map(lambda chunk: transform_chunk(plan, chunk))
    rendered = render_file(plan, shaped.collect())
    notify_recipients(plan, upload_file(plan, rendered))

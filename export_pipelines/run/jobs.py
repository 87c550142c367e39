"""export_job: one export, one run. validate -> (skip if empty) -> collect -> transform (per chunk) -> render -> upload
-> notify."""

from __future__ import annotations

from dagster import RunConfig, job

from export_pipelines.observability.log_format import export_console_logger
from export_pipelines.request.model import JOB_TAGS, VALIDATE_OP, ExportRequest
from export_pipelines.run.hooks import handle_step_failure, keep_file_record_on_upload
from export_pipelines.run.no_pandas import skip_pandas_probe
from export_pipelines.run.ops.collect import collect_chunks
from export_pipelines.run.ops.deliver import notify_recipients, upload_file
from export_pipelines.run.ops.empty import skip_empty_export
from export_pipelines.run.ops.render import render_file
from export_pipelines.run.ops.transform import transform_chunk
from export_pipelines.run.ops.validate import validate_request
from export_pipelines.run.resources import default_resources
from export_pipelines.scaleout.executors import export_executor

# Every process that runs exports imports this module (the command, run and step workers, Celery workers):
# none of them uses pandas, and pyarrow's first conversion of Python values would import it (~0.4 s).
skip_pandas_probe()

# The launchpad opens with this complete, valid request (the demo's user and dataset), ready to edit.
EXAMPLE_REQUEST = ExportRequest(user="analyst", dataset="orders")


@job(
    executor_def=export_executor,
    logger_defs={"console": export_console_logger},  # JSON lines with EXPORT_LOG_FORMAT=json
    # handle_step_failure: staging removed, the error to Sentry (when configured), one mail to the recipients.
    # keep_file_record_on_upload (on upload_file alone): the published file's audit record, kept apart from the run.
    hooks={handle_step_failure},
    resource_defs=default_resources(),
    # The console logger is configured so that it is export_console_logger (JSON lines with EXPORT_LOG_FORMAT=json):
    # Dagster uses its own text console instead when a run's config configures no logger.
    config=RunConfig(ops={VALIDATE_OP: EXAMPLE_REQUEST}, loggers={"console": {"config": {"log_level": "DEBUG"}}}),
    # A run that died is retried from scratch: Dagster's from-failure re-execution skips mapped steps
    # that had not started, and render_file would then publish a file missing their chunks.
    tags=JOB_TAGS,
    description="Export a dataset to a file: validate the request, stage chunks, render, upload, notify. "
    "The export runs as the request's user. From the launchpad or GraphQL that user is believed only with a "
    "request token signed by the application (run tag export/request_token), unless the instance trusts "
    "unsigned submissions, as the embedded default's dagster.yaml does: there the user is taken as typed, "
    "so that webserver must not be reachable by anyone untrusted.",
)
def export_job():
    plan = skip_empty_export(validate_request())  # no plan (and so no file, no mail): an empty export it skips
    shaped = collect_chunks(plan).map(lambda chunk: transform_chunk(plan, chunk))
    rendered = render_file(plan, shaped.collect())
    notify_recipients(plan, upload_file.with_hooks({keep_file_record_on_upload})(plan, rendered))

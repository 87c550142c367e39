"""upload_file and notify_recipients: publish the file at its final key, then tell people."""


from datetime import UTC, datetime, timedelta

from dagster import MetadataValue, OpExecutionContext, Out, op

from export_pipelines.errors import ExportError, TransientDeliveryError
from export_pipelines.notifiers import ExportNotification
from export_pipelines.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.plan import ExportPlan, ExportResult, RenderedFile, staging_prefix
from export_pipelines.resources import ExportLimitsResource, ExportStorageResource, NotifierResource


def final_key(plan: ExportPlan, run_id: str, file_name: str) -> str:
    """``<user>/<run_id>/<file>``: one folder per run, so retention and audits work per export."""
    return f"{plan.request.user}/{run_id}/{file_name}"


@op(out=Out(ExportResult), retry_policy=TRANSIENT_RETRY, tags={"export/step": "upload"})
def upload_file(
    context: OpExecutionContext,
    plan: ExportPlan,
    rendered: RenderedFile,
    storage: ExportStorageResource,
    limits: ExportLimitsResource,
) -> ExportResult:
    """Move the rendered file to its final key (atomically: a rename locally), then drop staging.

    Its output metadata (rows, skipped rows, bytes, file key, sha256, expiry) is the audit record.
    """
    target = storage.get()
    key = final_key(plan, context.run_id, rendered.file_name)
    with permanent_errors_fail_fast(context):
        if not target.exists(key):  # a retry after the move already happened finds it in place
            target.move(rendered.key, key)
    target.delete_prefix(staging_prefix(context.run_id))
    expires_at = datetime.now(UTC) + timedelta(days=limits.retention())
    result = ExportResult(
        file_key=key,
        location=target.location(key),
        rows=rendered.rows,
        skipped_rows=plan.skipped_rows,
        bytes=rendered.bytes,
        sha256=rendered.sha256,
        expires_at=expires_at,
    )
    context.add_output_metadata(
        {
            "rows": result.rows,
            "skipped_rows": result.skipped_rows,
            "bytes": result.bytes,
            "file_key": result.file_key,
            "location": MetadataValue.path(result.location),
            "sha256": result.sha256,
            "expires_at": result.expires_at.isoformat(),
        }
    )
    return result


@op(retry_policy=TRANSIENT_RETRY, tags={"export/step": "notify"})
def notify_recipients(
    context: OpExecutionContext, plan: ExportPlan, result: ExportResult, notifier: NotifierResource
) -> None:
    """Email the recipients that the file is ready.

    The file is already safe at its final key, so a notification that cannot be delivered never
    fails the export: transient SMTP errors are retried, and when retries run out (or the server
    refuses outright) the message is written to the outbox folder for a later resend.
    """
    request = plan.request
    if not request.recipients:
        context.log.info("No recipients: nothing to send.")
        return
    notification = ExportNotification(
        run_id=context.run_id,
        user=request.user,
        dataset=request.dataset,
        title=plan.title,
        format=request.format,
        recipients=tuple(request.recipients),
        rows=result.rows,
        skipped_rows=result.skipped_rows,
        bytes=result.bytes,
        file_key=result.file_key,
        link=result.location,
        sha256=result.sha256,
        finished_at=datetime.now(UTC),
        expires_at=result.expires_at,
        filters=plan.filter_descriptions(),
    )
    channel = notifier.get()
    try:
        receipt = channel.send(notification)
    except ExportError as error:
        if context.retry_number < TRANSIENT_RETRY.max_retries and isinstance(error, TransientDeliveryError):
            raise
        context.log.warning(f"Email not delivered ({error}); writing it to the outbox for a later resend.")
        receipt = channel.write_to_outbox(notification)
    context.add_output_metadata({"channel": receipt.channel, "destination": receipt.destination})


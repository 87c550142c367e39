"""upload_file and notify_recipients: publish the file at its final key, then tell people."""


from datetime import UTC, datetime, timedelta

from dagster import MetadataValue, OpExecutionContext, Out, op

from export_pipelines.errors import ExportError, TransientDeliveryError
from export_pipelines.formats import renderer_class
from export_pipelines.notifiers import ExportNotification
from export_pipelines.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast
from export_pipelines.plan import ExportPlan, ExportResult, RenderedFile, data_prefix, published_key, staging_prefix
from export_pipelines.resources import ExportLimitsResource, ExportStorageResource, NotifierResource
from export_pipelines.storage import FileAttributes
from export_pipelines.storage.encrypted import KEY_ID_ATTRIBUTE

_COMPRESSED_MEDIA_TYPES = {"gzip": "application/gzip", "zip": "application/zip"}


def media_type(plan: ExportPlan) -> str:
    """What the published file is, as a download would announce it."""
    return _COMPRESSED_MEDIA_TYPES.get(plan.compression) or renderer_class(plan.request.format).media_type


def published_attributes(plan: ExportPlan, run_id: str, rendered: RenderedFile, expires_at: datetime):
    """Content type, file name and the facts an operator reads off the object itself (never row values)."""
    metadata = {
        "run-id": run_id,
        "rows": str(rendered.rows),
        "plaintext-size": str(rendered.bytes),
        "sha256": rendered.sha256,
        "expires-at": expires_at.isoformat(),
    }
    if rendered.key_id is not None:
        metadata[KEY_ID_ATTRIBUTE] = str(rendered.key_id)
    return FileAttributes(media_type(plan), rendered.file_name, metadata)


@op(out=Out(ExportResult), retry_policy=TRANSIENT_RETRY, tags={"export/step": "upload"})
def upload_file(
    context: OpExecutionContext,
    plan: ExportPlan,
    rendered: RenderedFile,
    storage: ExportStorageResource,
    limits: ExportLimitsResource,
) -> ExportResult:
    """Move the rendered file to its final key (a rename locally, a server-side copy on S3), then drop staging.

    Its output metadata (rows, skipped rows, bytes, file key, sha256, key id, expiry) is the audit record.
    """
    target = storage.get()
    key = published_key(context.run_id, rendered.file_name)
    expires_at = datetime.now(UTC) + timedelta(days=limits.retention())
    with permanent_errors_fail_fast(context):
        if not target.exists(key):  # a retry after the move already happened finds it in place
            target.move(rendered.key, key, published_attributes(plan, context.run_id, rendered, expires_at))
    target.delete_prefix(data_prefix(context.run_id))
    result = ExportResult(
        file_key=key,
        location=target.location(key),
        rows=rendered.rows,
        skipped_rows=plan.skipped_rows,
        bytes=rendered.bytes,
        sha256=rendered.sha256,
        expires_at=expires_at,
        key_id=rendered.key_id,
    )
    context.add_output_metadata(
        {
            "rows": result.rows,
            "skipped_rows": result.skipped_rows,
            "bytes": result.bytes,
            "file_key": result.file_key,
            "location": MetadataValue.path(result.location),
            "sha256": result.sha256,
            "key_id": result.key_id,
            "expires_at": result.expires_at.isoformat(),
        }
    )
    return result


@op(retry_policy=TRANSIENT_RETRY, tags={"export/step": "notify"})
def notify_recipients(
    context: OpExecutionContext,
    plan: ExportPlan,
    result: ExportResult,
    notifier: NotifierResource,
    storage: ExportStorageResource,
) -> None:
    """Email the recipients that the file is ready, then remove what is left of the run's staging.

    The file is already safe at its final key, so a notification that cannot be delivered never
    fails the export: transient SMTP errors are retried, and when retries run out (or the server
    refuses outright) the message is written to the outbox folder for a later resend. The last
    step of the run is the one that removes the step outputs every earlier step needed.
    """
    _notify(context, plan, result, notifier)
    storage.get().delete_prefix(staging_prefix(context.run_id))


def _notify(context: OpExecutionContext, plan: ExportPlan, result: ExportResult, notifier: NotifierResource) -> None:
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


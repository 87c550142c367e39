"""upload_file and notify_recipients: publish the file at its final key, then tell people."""


from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from dagster import MetadataValue, OpExecutionContext, Out, op

from export_pipelines.delivery.links import mint_link
from export_pipelines.failures import describe, is_transient
from export_pipelines.formats import renderer_class
from export_pipelines.notifiers import ExportNotification
from export_pipelines.notifiers.base import AttachmentSource, DeliveryReceipt
from export_pipelines.notifiers.email import EmailNotifier
from export_pipelines.request.model import TAG_SUBSCRIPTION
from export_pipelines.request.plan import (
    ExportPlan,
    ExportResult,
    RenderedFile,
    data_prefix,
    published_key,
    staging_prefix,
)
from export_pipelines.run.ops.admitted import require_admission
from export_pipelines.run.ops.common import TRANSIENT_RETRY, permanent_errors_fail_fast, run_tags
from export_pipelines.run.resources import ExportLimitsResource, ExportStorageResource, NotifierResource
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
    require_admission(context, plan.request)
    target = storage.get()
    key = published_key(context.run_id, rendered.file_name)
    expires_at = datetime.now(UTC) + timedelta(days=limits.retention(plan.request.dataset))
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
            # What the user may learn of withheld rows; the exact count stays in validate_request's metadata.
            **plan.withheld.metadata(),
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

    The file is already safe at its final key, so nothing about the mail fails the export:
    transient SMTP errors are retried, and when retries run out, the server refuses, the mail
    settings cannot be read or anything else goes wrong, the message is written to the outbox
    folder for a later resend. If even that fails, the run still succeeds, with a warning. What
    happened is in the output metadata (channel ``smtp``, ``outbox``, ``none`` or ``failed``,
    destination, reason). The last step of the run removes the step outputs every earlier step
    needed, whatever became of the mail.
    """
    require_admission(context, plan.request)
    receipt = _notify(context, plan, result, notifier, storage)
    context.add_output_metadata(receipt.metadata() | plan.withheld.metadata())
    storage.get().delete_prefix(staging_prefix(context.run_id))


def _notify(
    context: OpExecutionContext,
    plan: ExportPlan,
    result: ExportResult,
    notifier: NotifierResource,
    storage: ExportStorageResource,
) -> DeliveryReceipt:
    """Deliver, or file, or report: raises only a transient error while the retry policy has retries left."""
    if not plan.request.recipients:
        context.log.info("No recipients: nothing to send.")
        return DeliveryReceipt("none", "", "no recipients")
    try:
        notification = _notification(context, plan, result, storage)
    except Exception as error:  # a bug: still no reason to fail a published export
        return _not_filed(context, "", f"the notification could not be built ({describe(error)})")
    try:
        channel = notifier.get()
    except Exception as error:  # SMTP settings that cannot be read (SMTP_PORT=abc): the outbox needs none of them
        reason = f"the mail settings cannot be read ({describe(error)})"
        return _file(context, notifier.outbox_only, notification, reason)
    try:
        return channel.send(notification)
    except Exception as error:
        if is_transient(error) and context.retry_number < TRANSIENT_RETRY.max_retries:
            raise  # the op's retry policy tries again after its backoff
        return _file(context, lambda: channel, notification, describe(error))


def _file(
    context: OpExecutionContext, mailer: Callable[[], EmailNotifier], notification: ExportNotification, reason: str
) -> DeliveryReceipt:
    """Write the message to the outbox for a later resend; if that fails too, say so and let the run succeed."""
    outbox = ""
    try:
        channel = mailer()
        outbox = str(channel.settings.outbox_dir)
        receipt = channel.write_to_outbox(notification)
    except Exception as error:
        return _not_filed(context, outbox, f"{reason}; the outbox could not be written either ({describe(error)})")
    context.log.warning(
        f"Notification not delivered ({reason}); filed in the outbox at {receipt.destination} for a later resend."
    )
    return DeliveryReceipt("outbox", receipt.destination, reason)


def _not_filed(context: OpExecutionContext, destination: str, reason: str) -> DeliveryReceipt:
    context.log.warning(
        f"Notification not delivered and not filed: {reason}. The export itself succeeded: tell the recipients "
        f"(run {context.run_id}), and fix the mail settings or EXPORT_OUTBOX_DIR."
    )
    return DeliveryReceipt("failed", destination, reason)


def _notification(
    context: OpExecutionContext, plan: ExportPlan, result: ExportResult, storage: ExportStorageResource
) -> ExportNotification:
    """The facts of the export, a fresh link to its download page (EXPORT_LINK_TTL, at most the file's life),
    and the file for a channel that attaches small ones (read decrypted, only if it does).
    """
    request = plan.request
    link = mint_link(
        run_id=context.run_id, file_key=result.file_key, owner=request.user, file_expires_at=result.expires_at
    )
    return ExportNotification(
        run_id=context.run_id,
        user=request.user,
        dataset=request.dataset,
        title=plan.title,
        format=request.format,
        recipients=tuple(request.recipients),
        rows=result.rows,
        bytes=result.bytes,
        file_key=result.file_key,
        link=link.url,
        sha256=result.sha256,
        finished_at=datetime.now(UTC),
        expires_at=link.expires_at,
        filters=plan.filter_descriptions(),
        rows_withheld=plan.withheld.withheld,
        withheld_band=plan.withheld.band,
        attachment=AttachmentSource(
            file_name=PurePosixPath(result.file_key).name,
            media_type=media_type(plan),
            size=result.bytes,
            sha256=result.sha256,
            open=lambda: storage.get().open_read(result.file_key),
        ),
        subscription=run_tags(context).get(TAG_SUBSCRIPTION),
    )

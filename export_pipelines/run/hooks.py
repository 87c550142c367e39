"""Run-level hooks: staged chunks never outlive a failed run, its requester hears why it failed, and a
published file's audit record outlives its run."""

from dagster import HookContext, failure_hook, success_hook

from export_pipelines.notifiers.failure import tell_requester
from export_pipelines.observability.monitoring import report_step_failure
from export_pipelines.request.plan import staging_prefix


@failure_hook(required_resource_keys={"storage"})
def remove_staging_on_failure(context: HookContext) -> None:
    """A step failed for good: delete this run's staged chunks and any partly rendered file.

    The final key is never half-written (storage writes are atomic), so staging is all there is
    to clean (step outputs included). Successful runs remove staged data in ``upload_file`` and the
    rest in ``notify_recipients``.
    """
    removed = context.resources.storage.get().delete_prefix(staging_prefix(context.run_id))
    context.log.info(f"Removed {removed} staged file(s) of failed run {context.run_id}.")


@failure_hook(required_resource_keys={"notifier"})
def tell_requester_on_failure(context: HookContext) -> None:
    """A step failed for good: mail the request's recipients why, and what to do; once per run, never a traceback.

    See ``notifiers.failure`` for the reason the requester reads and how one run sends one mail.
    """
    tell_requester(context)


# What a step's final failure sets off, in this order: clean up, report to the error tracker, tell the requester.
ON_STEP_FAILURE = (remove_staging_on_failure, report_step_failure, tell_requester_on_failure)


@failure_hook(required_resource_keys={"storage", "notifier"})
def handle_step_failure(context: HookContext) -> None:
    """A step failed for good: each of ``ON_STEP_FAILURE`` in turn, one not stopping the next.

    One hook rather than three on export_job: Dagster logs a HOOK_SKIPPED event for each hook of each step that
    succeeds, and every event is a write to the run's event log (~25 ms under load; a 1,000-row export logs ~90).
    """
    for hook in ON_STEP_FAILURE:
        try:
            hook.decorated_fn(context)
        except Exception as error:  # noqa: BLE001  the step failed already: the others still run
            context.log.warning(f"{hook.name} failed for run {context.run_id}: {type(error).__name__}: {error}")


@success_hook
def keep_file_record_on_upload(context: HookContext) -> None:
    """``upload_file`` published the file: keep its audit record apart from the run (``audit.keep_file_record``),
    so deleting the run from Dagster's history does not erase who exported what and where the file went."""
    if context.op.name != "upload_file":
        return
    from export_pipelines.observability.audit import keep_file_record

    try:
        keep_file_record(context.instance, context.run_id)
    except Exception as error:  # noqa: BLE001  the file is published: its run history still says so
        context.log.warning(f"could not keep the audit record of run {context.run_id} beside it: {error}")

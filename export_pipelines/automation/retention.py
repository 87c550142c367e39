"""retention_cleanup_job: delete published exports past their expiry and the staging dead runs left behind.

It runs every day at 03:00 UTC (``daily_retention_cleanup_schedule``, on by default) and can be
launched from the launchpad at any time, with ``dry_run`` to see what it would delete. What it
deletes is decided in ``automation.expired``. Each deleted export's run is tagged
``export/deleted_at`` (the audit log shows it); the run history itself is never deleted. The
clean-up's own run records what it deleted (count, keys, stored bytes) in its output metadata.
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    Config,
    ConfigurableResource,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    in_process_executor,
    job,
    mem_io_manager,
    op,
)
from pydantic import Field

from export_pipelines.automation.expired import expired_exports, leftover_staging
from export_pipelines.observability.audit import TAG_DELETED_AT
from export_pipelines.observability.log_format import export_console_logger
from export_pipelines.run.resources import ExportStorageResource

CLEAN_UP_OP = "clean_up_storage"
# Keys listed in the run's metadata at most (the counts and bytes always cover everything).
LISTED_KEYS = 1_000


class ClockResource(ConfigurableResource):
    """What time it is for the clean-up: the system clock in UTC (tests give a fixed one)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RetentionCleanupConfig(Config):
    """What one clean-up run does."""

    dry_run: bool = Field(
        default=False,
        description="Report what would be deleted (in the run's metadata and log) and delete nothing.",
    )
    staging_grace_hours: int = Field(
        default=24,
        ge=0,
        description="Staging of a run this Dagster instance does not know is deleted only once its newest file is "
        "this many hours old. Staging of known runs goes as soon as the run and its retries have ended.",
    )


@op(name=CLEAN_UP_OP, tags={"export/step": "retention"})
def clean_up_storage(
    context: OpExecutionContext, config: RetentionCleanupConfig, storage: ExportStorageResource, clock: ClockResource
) -> dict:
    """Delete exports whose expiry has passed and staging no live run can read; record every deletion.

    The deleted export's run is tagged ``export/deleted_at`` after its files are gone, so the tag never
    claims a deletion that did not happen; a deletion that fails half-way is finished by the next run.
    """
    instance, target, now = context.instance, storage.get(), clock.now()
    verb = "Would delete" if config.dry_run else "Deleted"
    expired, unaccounted = expired_exports(instance, target, now)
    leftovers = leftover_staging(instance, target, now, timedelta(hours=config.staging_grace_hours))
    for item in expired:
        if not config.dry_run:
            target.delete_prefix(item.folder.prefix)
            if item.known_run:
                instance.add_run_tags(item.folder.run_id, {TAG_DELETED_AT: now.isoformat()})
        context.log.info(
            f"{verb} export {item.folder.run_id}: {', '.join(item.folder.keys)} (expired {item.expires_at.isoformat()})"
        )
    for folder in leftovers:
        if not config.dry_run:
            target.delete_prefix(folder.prefix)
        context.log.info(f"{verb} {len(folder.keys)} staged file(s) of run {folder.run_id} under {folder.prefix}/")
    for key in unaccounted:
        context.log.warning(f"Kept {key}: neither run history nor the file records when it expires.")
    expired_keys = [key for item in expired for key in item.folder.keys]
    report = {
        "dry_run": config.dry_run,
        "as_of": now.isoformat(),
        "expired_files": len(expired_keys),
        "expired_bytes": sum(item.folder.bytes for item in expired),
        "expired_keys": expired_keys[:LISTED_KEYS],
        "staging_files": sum(len(folder.keys) for folder in leftovers),
        "staging_bytes": sum(folder.bytes for folder in leftovers),
        "staging_prefixes": [folder.prefix for folder in leftovers][:LISTED_KEYS],
        "kept_without_expiry": len(unaccounted),
    }
    context.add_output_metadata(report)
    return report


@job(
    executor_def=in_process_executor,
    logger_defs={"console": export_console_logger},  # JSON lines with EXPORT_LOG_FORMAT=json
    resource_defs={"storage": ExportStorageResource(), "clock": ClockResource(), "io_manager": mem_io_manager},
    tags={"export/kind": "retention"},
    description="Delete exported files past their expiry and the staging of runs that ended; run history is kept. "
    "Set dry_run to see what would be deleted.",
)
def retention_cleanup_job():
    clean_up_storage()


daily_retention_cleanup_schedule = ScheduleDefinition(
    name="daily_retention_cleanup_schedule",
    job=retention_cleanup_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    run_config={"loggers": {"console": {"config": {"log_level": "DEBUG"}}}},  # the console logger above, not Dagster's
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 03:00 UTC: delete expired exports and leftover staging.",
)

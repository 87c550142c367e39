"""Reading run history back as an audit log: who exported what, when, how many rows, and how it ended.

The run's tags say who/what/how, and the step output metadata of ``validate_request`` and
``upload_file`` say how many rows and where the file is (``location``: the path or ``s3://`` URL the
storage backend gave when the file was published, so it stays right after the deployment's storage URL
changes; retention's tag says when it was deleted).

A run can be deleted from Dagster's history (the webserver's "Delete"), and with it its tags and events.
So when a file is published its record is also kept as an observation of the runless asset
``export_files`` (``keep_file_record``): deleting a run does not delete runless events, and ``audit``
lists a kept record whose run is gone as ``RUN_DELETED``, with what was known of the file.

History does not mint download links: whoever shows a record to a requester (the CLI, the delivery
code) adds one with ``export_pipelines.delivery.links.record_with_link``, so run history never
depends on delivery.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from dagster import AssetKey, AssetObservation, AssetRecordsFilter, DagsterEventType, DagsterInstance, RunsFilter

from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER

EXPORT_JOB = "export_job"
# Set on an export run by retention_cleanup_job when it deletes the run's file (automation/retention.py).
TAG_DELETED_AT = "export/deleted_at"
_RECORDED_STEPS = ("validate_request", "upload_file", "notify_recipients")
FILES_ASSET = AssetKey("export_files")
RUN_DELETED = "RUN_DELETED"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRecord:
    """One export run as the audit log reports it."""

    run_id: str
    status: str
    user: str | None
    dataset: str | None
    format: str | None
    started_at: str | None
    finished_at: str | None
    rows: int | None
    skipped_rows: int | None
    bytes: int | None
    file_key: str | None
    sha256: str | None
    key_id: int | None
    expires_at: str | None
    notification: str | None
    error: str | None
    filters: str | None = None  # as validate_request described them
    link: str | None = None  # a fresh download link, added by whoever shows the record (delivery.links)
    deleted_at: str | None = None  # when retention deleted the file (the record itself is kept)
    # What the user was told of withheld rows (skipped_rows is the exact count, for operators only).
    rows_withheld: bool | None = None
    rows_withheld_band: str | None = None
    notification_reason: str | None = None  # why the mail was not delivered, when it was not
    # Where upload_file published the file (a path or s3:// URL); kept after retention deletes it, like file_key.
    location: str | None = None

    @property
    def file(self) -> str | None:
        """Where the file is now: its storage location, or 'deleted on <date>' once retention removed it."""
        if self.deleted_at:
            return f"deleted on {self.deleted_at[:10]}"
        return self.location

    def for_requester(self) -> dict:
        """The record as the requester may see it: without the exact count of rows their grants withheld,
        nor where the deployment stores files (the requester downloads through a link)."""
        return {key: value for key, value in asdict(self).items() if key not in _OPERATORS_ONLY}

    def as_dict(self) -> dict:
        """Every field, and ``file``: where the file is now (what the audit table shows)."""
        return {**asdict(self), "file": self.file}


_OPERATORS_ONLY = ("skipped_rows", "location")


def audit_records(
    instance: DagsterInstance,
    user: str | None = None,
    dataset: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[AuditRecord]:
    """Export runs, newest first, filtered by user, dataset and creation time."""
    tags = {key: value for key, value in ((TAG_USER, user), (TAG_DATASET, dataset)) if value}
    records = instance.get_run_records(
        filters=RunsFilter(job_name=EXPORT_JOB, tags=tags, created_after=since), limit=limit
    )
    listed = [_audit_record(instance, record) for record in records]
    gone = [r for r in _deleted_runs(instance, {r.run_id for r in listed}, limit)
            if (not user or r.user == user) and (not dataset or r.dataset == dataset)
            and (not since or (r.started_at or "") >= since.astimezone(UTC).isoformat())]  # fmt: skip
    if not gone:
        return listed
    merged = sorted(listed + gone, key=lambda r: r.started_at or "", reverse=True)
    return merged[:limit] if limit else merged


def keep_file_record(instance: DagsterInstance, run_id: str) -> None:
    """Keep the audit record of a run whose file was just published, beside its history (see above)."""
    record = audit_record_for_run(instance, run_id)
    instance.report_runless_asset_event(AssetObservation(
        asset_key=FILES_ASSET, partition=run_id, metadata={"record": json.dumps(asdict(record))},
    ))  # fmt: skip


def _deleted_runs(instance: DagsterInstance, listed: set[str], limit: int | None) -> list[AuditRecord]:
    """Kept file records whose run is no longer in the instance; a record not written here is skipped."""
    kept: dict[str, AuditRecord] = {}
    for observation in instance.fetch_observations(AssetRecordsFilter(asset_key=FILES_ASSET), limit=limit or 10_000
                                                   ).records:  # fmt: skip
        if observation.partition_key in listed or observation.partition_key in kept:
            continue  # newest first: the latest record of a run is the one kept
        try:
            text = observation.asset_observation.metadata["record"].value
            record = AuditRecord(**json.loads(text))
        except (KeyError, AttributeError, TypeError, ValueError):
            logger.warning("skipped an export_files record that export_pipelines did not write")
            continue
        if record.run_id == observation.partition_key:
            kept[record.run_id] = record
    if not kept:
        return []
    present = {r.dagster_run.run_id for r in instance.get_run_records(RunsFilter(run_ids=list(kept)))}
    reason = "the run was deleted from Dagster's history; this is the record kept when its file was published"
    return [replace(r, status=RUN_DELETED, error=reason) for run_id, r in kept.items() if run_id not in present]


def _audit_record(instance: DagsterInstance, record) -> AuditRecord:
    run = record.dagster_run
    metadata, error = _run_events(instance, run.run_id)
    return AuditRecord(
        run_id=run.run_id,
        status=run.status.value,
        user=run.tags.get(TAG_USER),
        dataset=run.tags.get(TAG_DATASET),
        format=run.tags.get(TAG_FORMAT),
        started_at=_iso(record.start_time),
        finished_at=_iso(record.end_time),
        rows=metadata.get("rows"),
        skipped_rows=metadata.get("skipped_rows"),
        bytes=metadata.get("bytes"),
        file_key=metadata.get("file_key"),
        sha256=metadata.get("sha256"),
        key_id=metadata.get("key_id"),
        expires_at=metadata.get("expires_at"),
        notification=(
            f"{metadata['channel']}: {metadata['destination']}"
            if metadata.get("channel") not in (None, "none")
            else None
        ),
        error=error,
        filters=metadata.get("filters"),
        deleted_at=run.tags.get(TAG_DELETED_AT),
        rows_withheld=metadata.get("rows_withheld"),
        rows_withheld_band=metadata.get("rows_withheld_band"),
        notification_reason=metadata.get("reason"),
        location=metadata.get("location"),
    )


def _run_events(instance: DagsterInstance, run_id: str) -> tuple[dict, str | None]:
    """Merge the recorded steps' output metadata (upload wins over validate) and find the failure reason."""
    metadata: dict = {}
    error = engine_error = None
    kinds = {
        DagsterEventType.STEP_OUTPUT, DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE,
        DagsterEventType.ENGINE_EVENT, DagsterEventType.RUN_CANCELED,
    }  # fmt: skip
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = error or _failure_reason(event)
        elif event.event_type == DagsterEventType.ENGINE_EVENT:
            # Dagster records why a run failed before it started (the submission gate refused it) here.
            data = event.engine_event_data
            engine_error = data.error.message.strip() if data and data.error else engine_error
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            # A run that failed outside any step (executor start-up, for instance).
            error = error or _run_failure_reason(event, engine_error)
        elif event.event_type == DagsterEventType.RUN_CANCELED:
            # Who or what canceled it: a repeat names the run it repeats (the gate's message), else Dagster's.
            error = error or event.message or "canceled"
        elif event.step_key in _RECORDED_STEPS:
            for name, value in event.event_specific_data.metadata.items():
                metadata[name] = getattr(value, "value", value)
    return metadata, error


def failure_reason(instance: DagsterInstance, run_id: str) -> str | None:
    """Why a run failed, worded as its audit record's ``error`` (None when nothing failed)."""
    return _run_events(instance, run_id)[1]


def _failure_reason(event) -> str:
    data = event.event_specific_data
    described = data.user_failure_data.description if data.user_failure_data else None
    return f"{event.step_key}: {described or (data.error.message.strip() if data.error else 'failed')}"


def _run_failure_reason(event, engine_error: str | None = None) -> str:
    data = event.event_specific_data
    cause = data.error.message.strip() if data and data.error else ""
    return f"run: {cause or engine_error or event.message}"


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


def audit_record_for_run(instance: DagsterInstance, run_id: str) -> AuditRecord:
    """The audit record of one run (what the CLI prints after an export)."""
    records = instance.get_run_records(filters=RunsFilter(run_ids=[run_id]), limit=1)
    if not records:
        raise ValueError(f"no run {run_id!r} in the Dagster instance at $DAGSTER_HOME")
    return _audit_record(instance, records[0])


def audit_record_of(instance: DagsterInstance, run_record) -> AuditRecord:
    """The audit record of a run whose record the caller has read already (a page of them: one query fewer each)."""
    return _audit_record(instance, run_record)

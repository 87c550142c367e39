"""Every download and every refused attempt, recorded in the Dagster instance as asset observations.

Why the instance: it is the one store every process of a deployment already shares (its run and event
storage is PostgreSQL when services run on several machines), it is where run history and revocations
live, and ``report_runless_asset_event`` / ``fetch_observations`` are public API. A JSON-lines file in the
data folder would be per machine; the source database is read-only to us; one object per attempt under a
storage prefix has no cheap "newest first for this run". Attempts are observations of one asset,
``export_downloads``, partitioned by run id when the link verified, so ``--run`` is an indexed query
and the Dagster UI shows the downloads beside the exports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from dagster import AssetKey, AssetObservation, AssetRecordsFilter, DagsterInstance

DOWNLOADS_ASSET = AssetKey("export_downloads")


@dataclass(frozen=True)
class DownloadAttempt:
    """One request for an export's page or file, as ``audit --downloads`` reports it."""

    at: str
    status: int
    outcome: str  # complete, partial (a range), interrupted, head, or the refusal's reason
    what: str  # page or file
    run_id: str | None = None  # only when the link verified: an unverified claim names nothing
    owner: str | None = None  # the link's subject
    user: str | None = None  # the signed-in user, when login is required
    link_id: str | None = None  # the link's jti
    client: str | None = None
    range: str | None = None  # as served: "bytes a-b/size"
    bytes_sent: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def record_attempt(instance: DagsterInstance, attempt: DownloadAttempt) -> None:
    metadata = {name: value for name, value in asdict(attempt).items() if value is not None and name != "run_id"}
    instance.report_runless_asset_event(
        AssetObservation(asset_key=DOWNLOADS_ASSET, partition=attempt.run_id, metadata=metadata)
    )


def download_attempts(instance: DagsterInstance, run_id: str | None = None, limit: int = 1000) -> list[DownloadAttempt]:
    """Recorded attempts, newest first; only those of ``run_id`` when given."""
    selection = AssetRecordsFilter(asset_key=DOWNLOADS_ASSET, asset_partitions=[run_id] if run_id else None)
    records = instance.fetch_observations(selection, limit=limit).records
    known = {field.name for field in fields(DownloadAttempt)}
    attempts = []
    for record in records:
        values = {name: getattr(value, "value", value) for name, value in record.asset_observation.metadata.items()}
        values = {name: value for name, value in values.items() if name in known}
        values.setdefault("at", datetime.fromtimestamp(record.timestamp, UTC).isoformat())
        attempts.append(DownloadAttempt(**values, run_id=record.partition_key))
    return attempts


def now_iso() -> str:
    return datetime.now(UTC).isoformat()

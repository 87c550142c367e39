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

from dataclasses import asdict, dataclass
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
    """Recorded attempts, newest first; only those of ``run_id`` when given. See ``read_attempts``."""
    return read_attempts(instance, run_id, limit)[0]


def read_attempts(instance: DagsterInstance, run_id: str | None = None, limit: int = 1000):
    """(attempts, how many records were skipped): newest first, only those of ``run_id`` when given.

    Anyone who may report asset events (``reportRunlessAssetEvents``) can add an observation of
    ``export_downloads``: a record without this module's fields, or with a value of the wrong type, was
    not written by ``record_attempt`` and is counted, not read.
    """
    selection = AssetRecordsFilter(asset_key=DOWNLOADS_ASSET, asset_partitions=[run_id] if run_id else None)
    records = instance.fetch_observations(selection, limit=limit).records
    attempts, skipped = [], 0
    for record in records:
        values = {name: getattr(value, "value", value) for name, value in record.asset_observation.metadata.items()}
        values = {name: value for name, value in values.items() if name in _TYPES}
        values.setdefault("at", datetime.fromtimestamp(record.timestamp, UTC).isoformat())
        if not _written_here(values):
            skipped += 1
            continue
        attempts.append(DownloadAttempt(**values, run_id=record.partition_key))
    return attempts, skipped


# The type of each recorded field (run_id is the partition); bool is an int to Python, so it is excluded.
_TYPES = {"at": str, "status": int, "outcome": str, "what": str, "owner": str, "user": str, "link_id": str,
          "client": str, "range": str, "bytes_sent": int}  # fmt: skip
_REQUIRED = ("at", "status", "outcome", "what")


def _written_here(values: dict) -> bool:
    if any(name not in values for name in _REQUIRED):
        return False
    return all(isinstance(value, _TYPES[name]) and not isinstance(value, bool) for name, value in values.items())


def now_iso() -> str:
    return datetime.now(UTC).isoformat()

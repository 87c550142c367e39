"""What a verified link leads to: the export's facts, or why it can no longer be had.

Everything is read from the Dagster instance (run tags, the audit record) and the storage, the two
places every service process shares. Revocation is a run tag (``export/revoked_at``) set through
``instance.add_run_tags``: it needs no store of its own, every process serving links sees it on the
next request, and it stays beside the run it applies to. Revoking is per export: a link minted later
is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import DagsterInstance, RunsFilter

from export_pipelines.delivery.links import LinkClaims
from export_pipelines.delivery.refusals import Gone, UnknownExport
from export_pipelines.formats import renderer_class
from export_pipelines.observability.audit import AuditRecord, audit_record_for_run
from export_pipelines.storage.encrypted import EncryptedStorage

REVOKED_TAG = "export/revoked_at"
_COMPRESSED = {".gz": "application/gzip", ".zip": "application/zip"}


@dataclass(frozen=True)
class DownloadableExport:
    """One finished export a link may fetch, with what its page shows."""

    run_id: str
    owner: str | None
    dataset: str | None
    title: str | None
    format: str | None
    rows: int | None
    rows_withheld: bool
    size: int
    sha256: str
    created_at: datetime | None
    expires_at: datetime | None
    filters: str | None
    file_key: str
    file_name: str
    media_type: str
    key_id: int | None = None  # from run history: spares identifying the key from the file's first segment

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


def is_revoked(tags: Mapping[str, str]) -> bool:
    return bool(tags.get(REVOKED_TAG))


def revoke(instance: DagsterInstance, run_id: str, now: datetime | None = None) -> str:
    """Mark the export revoked (every link of it then answers 410); return when, as recorded."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise ValueError(f"no run {run_id!r} in the Dagster instance at $DAGSTER_HOME")
    if is_revoked(run.tags):
        return run.tags[REVOKED_TAG]
    when = (now or datetime.now(UTC)).isoformat()
    instance.add_run_tags(run_id, {REVOKED_TAG: when})
    return when


def resolve(
    instance: DagsterInstance, storage: EncryptedStorage, claims: LinkClaims, now: datetime
) -> DownloadableExport:
    """The export ``claims`` name, if it still exists: UnknownExport (404) or Gone (410) otherwise.

    The file key comes from the verified token and must equal the run's recorded one: a link can reach
    exactly one stored file, the one its run published, and nothing a request path says is used as a key.
    """
    records = instance.get_run_records(filters=RunsFilter(run_ids=[claims.run_id]), limit=1)
    if not records:
        raise UnknownExport("no export matches this link: it may belong to another deployment; ask for a new link")
    run = records[0].dagster_run
    if is_revoked(run.tags):
        raise Gone("this export was withdrawn by its owner or an administrator: ask them for a new export", "revoked")
    record = audit_record_for_run(instance, claims.run_id)
    if record.status != "SUCCESS" or record.file_key != claims.file_key:
        raise UnknownExport("this link names no finished export: ask for a new link")
    expires_at = datetime.fromisoformat(record.expires_at) if record.expires_at else None
    if expires_at and expires_at <= now:
        raise Gone(f"this export expired on {expires_at:%Y-%m-%d %H:%M} UTC: re-run the export", "expired")
    try:
        size = storage.size(record.file_key)
    except FileNotFoundError:
        raise Gone("the file of this export was deleted: re-run the export to get a new one", "deleted") from None
    return _downloadable(record, run.run_config, size, expires_at)


def _downloadable(record: AuditRecord, run_config: Mapping, size: int, expires_at: datetime | None):
    file_name = record.file_key.rsplit("/", 1)[-1]
    request = run_config.get("ops", {}).get("validate_request", {}).get("config", {})
    return DownloadableExport(
        run_id=record.run_id,
        owner=record.user,
        dataset=record.dataset,
        title=request.get("title") if isinstance(request, Mapping) else None,
        format=record.format,
        rows=record.rows,
        rows_withheld=bool(record.skipped_rows),
        size=size,
        sha256=record.sha256 or "",
        created_at=datetime.fromisoformat(record.finished_at) if record.finished_at else None,
        expires_at=expires_at,
        filters=record.filters,
        file_key=record.file_key,
        key_id=record.key_id,
        file_name=file_name,
        media_type=media_type(file_name, record.format),
    )


def media_type(file_name: str, format_name: str | None) -> str:
    """What the download announces: the compression's type for .gz and .zip, else the format's."""
    for suffix, compressed in _COMPRESSED.items():
        if file_name.endswith(suffix):
            return compressed
    try:
        return renderer_class(format_name).media_type
    except (KeyError, ValueError, TypeError):
        return "application/octet-stream"

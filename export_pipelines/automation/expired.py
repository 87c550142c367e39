"""What retention may delete: published files past their expiry, and staging that no run will read again.

Both are found by listing the storage (what exists is what can leak) and asking run history about
each run folder found, never the other way round: a file is deleted only when history (or, for a
run history no longer knows, the expiry stamped on the object itself) says it expired, and staging
only when no run that could read it is still live.

- ``files/<run_id>/...`` expires at the ``expires_at`` its run's ``upload_file`` step recorded. That
  time was fixed when the file was written (the deployment's ``EXPORT_RETENTION_DAYS`` or the
  dataset's ``retention_days``), so the expiry a user was told by mail is the one kept, whatever the
  catalog says later. With no run record, the object's ``expires-at`` metadata (S3) decides; a file
  with neither is kept and reported.
- ``_staging/<run_id>/...`` is left behind by runs that died (a killed worker runs no failure hook)
  or that were retried from failure (the retry reads its parent's staging and removes only its own).
  It goes once its run has ended (success, failure, canceled) and every run of the same run group
  has too, unless a retry is still to be launched; the staging of a run the instance does not know
  goes once its newest file is older than the grace period.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from dagster import DagsterEventType, DagsterInstance, DagsterRun

from export_pipelines.request.plan import staging_prefix
from export_pipelines.storage.base import PUBLISHED_PREFIX, Storage

UPLOAD_STEP = "upload_file"
EXPIRES_AT_ATTRIBUTE = "expires-at"  # stamped on published objects by upload_file (ops/deliver.py)


@dataclass(frozen=True)
class RunFolder:
    """Every stored file of one run under a top folder (``files`` or ``_staging``)."""

    run_id: str
    prefix: str
    keys: tuple[str, ...]
    bytes: int  # as stored (ciphertext)
    newest: datetime


@dataclass(frozen=True)
class Expired:
    """A published export whose time is up."""

    folder: RunFolder
    expires_at: datetime
    known_run: bool  # False: only the object's own metadata vouched for the expiry


def run_folders(storage: Storage, top: str) -> Iterator[RunFolder]:
    """The files under ``top/`` grouped by their run folder, in key order."""
    top = top.rstrip("/")
    listed = storage.list(top)
    for run_id, items in groupby(listed, key=lambda item: item.key[len(top) + 1 :].split("/", 1)[0]):
        files = list(items)
        yield RunFolder(
            run_id=run_id,
            prefix=f"{top}/{run_id}",
            keys=tuple(item.key for item in files),
            bytes=sum(item.bytes for item in files),
            newest=max(item.modified for item in files),
        )


def expired_exports(instance: DagsterInstance, storage: Storage, now: datetime) -> tuple[list[Expired], list[str]]:
    """Published folders whose expiry has passed, and the keys kept because nothing says when they expire."""
    expired: list[Expired] = []
    unaccounted: list[str] = []
    for folder in run_folders(storage, PUBLISHED_PREFIX):
        known = instance.has_run(folder.run_id)
        expires_at = recorded_expiry(instance, folder.run_id) if known else None
        if expires_at is None:
            expires_at = _stamped_expiry(storage, folder)
        if expires_at is None:
            unaccounted.extend(folder.keys)
        elif expires_at <= now:
            expired.append(Expired(folder, expires_at, known))
    return expired, unaccounted


def recorded_expiry(instance: DagsterInstance, run_id: str) -> datetime | None:
    """The ``expires_at`` of the run's upload, from its event log."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT):
        event = entry.dagster_event
        if event.step_key == UPLOAD_STEP:
            value = event.event_specific_data.metadata.get("expires_at")
            text = getattr(value, "value", value)
            if isinstance(text, str) and text:
                return datetime.fromisoformat(text)
    return None


def _stamped_expiry(storage: Storage, folder: RunFolder) -> datetime | None:
    stamps = []
    for key in folder.keys:
        text = storage.attributes(key).get(EXPIRES_AT_ATTRIBUTE)
        if not text:
            return None
        stamps.append(datetime.fromisoformat(text))
    return max(stamps, default=None)


def leftover_staging(instance: DagsterInstance, storage: Storage, now: datetime, grace: timedelta) -> list[RunFolder]:
    """Staging folders no live run can still read."""
    leftovers = []
    for folder in run_folders(storage, staging_prefix("").rstrip("/")):
        run = instance.get_run_by_id(folder.run_id)
        if run is None:
            if now - folder.newest > grace:
                leftovers.append(folder)
        elif not _may_be_read(instance, run):
            leftovers.append(folder)
    return leftovers


def _may_be_read(instance: DagsterInstance, run: DagsterRun) -> bool:
    """The run is live, a retry of it is still to be launched, or a run of its group (a retry) is live."""
    if not run.is_finished or run.is_complete_and_waiting_to_retry:
        return True
    group = instance.get_run_group(run.run_id)
    return group is not None and any(not member.is_finished for member in group[1])

"""One admission at a time per user: the lock that makes the queue cap, the dedupe and the running limit hold.

The per-user queue cap, the dedupe window and the command line's running limit are each "count,
then act": count the user's waiting (or running) runs, then queue (or start) one more. The webserver
serves every GraphQL request in a thread of its own, a deployment may run several webservers and the
daemon besides, so without a lock N submissions arriving at once all count the same number and all
go in (8 queued with a cap of 2, 4 identical requests all queued). The count and the act therefore
happen under a lock every process of the deployment shares, one per user, taken from the instance's
own database:

- PostgreSQL (``storage: postgres``, every multi-machine deployment): a transaction-scoped advisory
  lock, ``pg_advisory_xact_lock``, on a key derived from the user. It is released when the
  transaction ends, so a process that dies holding it frees it at once.
- SQLite (the embedded default, one machine): ``fcntl.flock`` on a file under ``$DAGSTER_HOME``,
  which excludes every thread and process of that machine (each takes it through its own open file).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterInstance

LOCK_FOLDER = "export_admission_locks"
_NAMESPACE = b"export-pipelines/admission:"


@contextmanager
def admission_lock(instance: DagsterInstance, user: str) -> Iterator[None]:
    """Hold the deployment-wide lock of ``user``'s admissions for the ``with`` block."""
    digest = hashlib.sha256(_NAMESPACE + user.encode("utf-8")).digest()
    storage = instance.run_storage
    if _is_postgres(storage):
        with _advisory_lock(storage, int.from_bytes(digest[:8], "big", signed=True)):
            yield
        return
    folder = Path(instance.root_directory) / LOCK_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{digest.hex()[:32]}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, or the process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_postgres(storage) -> bool:
    try:
        from dagster_postgres.run_storage import PostgresRunStorage
    except ImportError:  # not installed: the instance cannot be on PostgreSQL either
        return False
    return isinstance(storage, PostgresRunStorage)


@contextmanager
def _advisory_lock(storage, key: int) -> Iterator[None]:
    # The run storage's engine runs in autocommit; this connection opens a real transaction, so the
    # transaction-scoped lock lasts until the block ends (commit, or rollback on error).
    with storage.connect() as connection:
        connection = connection.execution_options(isolation_level="READ COMMITTED")
        with connection.begin():
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield

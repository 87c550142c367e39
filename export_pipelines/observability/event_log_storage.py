"""An opt-in instance storage: Dagster's SQLite storage, with each event log file's connection kept open.

Why: Dagster's ``SqliteEventLogStorage`` opens a new SQLite connection for every event it writes and closes it
after the commit. Closing the last connection to a WAL database checkpoints it (more writes, another fsync), and
a run writes ~90 events for a 1,000-row export (STEP_START, inputs, outputs, hooks...): at a load of 10 on two
cores each event took ~55 ms that way against ~25 ms on a kept connection (``benchmarks/graphql_latency_bench.py``
reads each run's split). Here each process keeps one connection per event log file it writes or reads (the
run's, and the index), for the last ``KEPT_FILES`` files; every commit is still a durable SQLite commit (the
same ``synchronous`` setting), only the close and reopen go. A forked process opens its own: connections are
kept per process id, never shared across a fork.

Each SQLite file is also checked against Dagster's schema head when a process first opens it (the runs, the
schedules, the index, then every run's own file): Dagster reads its ~90 migration scripts from disk for each
check (~0.1 s each under load, four or five times per command-line export or per run), and runs them all again
to stamp each new run's file (~0.4 s). The scripts are read once per process here (``read_migrations_once``).

Not in the project's dagster.yaml: Dagster writes a run's failure event before it marks the run failed and tags it
for retry, and its retry daemon, reading the event in between, skips the run for good; the faster reads here made
that happen (a killed run went unretried in 2 of 6 runs of the run-lifecycle tests). Where run retries do not
matter, in dagster.yaml (a deployment on PostgreSQL has no use for it)::

    storage:
      custom:
        module: export_pipelines.observability.event_log_storage
        class: KeptConnectionSqliteStorage
        config:
          base_dir:
            env: DAGSTER_HOME
"""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import dagster._core.storage.sql as dagster_sql
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Event log files whose connection a process keeps open: a run writes two (its own and the index); the
# webserver reads many runs' logs, each one opened again once it falls out of these.
KEPT_FILES = 8


_read: dict[str, ScriptDirectory] = {}


class _MigrationsReadOnce:
    """Stands for alembic's ScriptDirectory in Dagster's schema check: the same scripts, read once per location."""

    @staticmethod
    def from_config(config: Config) -> ScriptDirectory:
        location = config.get_main_option("script_location")
        if location not in _read:
            _read[location] = ScriptDirectory.from_config(config)
        return _read[location]


def _stamp(config: Config, revision: str) -> None:
    """alembic's ``command.stamp`` as Dagster's env.py runs it, on the scripts read once."""
    context = MigrationContext.configure(connection=config.attributes["connection"])
    try:
        with context.begin_transaction():
            context.stamp(_MigrationsReadOnce.from_config(config), revision)
    except sqlite3.DatabaseError as error:  # another process made the table first, as env.py allows
        if "table alembic_version already exists" not in str(error):
            raise


def read_migrations_once() -> None:
    """Dagster's schema checks and stamps (a new run's file is stamped at the head) in this process read the
    migration scripts once: they do not change while it runs."""
    if dagster_sql.ScriptDirectory is not _MigrationsReadOnce:
        dagster_sql.ScriptDirectory, dagster_sql.stamp = _MigrationsReadOnce, _stamp
        config = dagster_sql.get_alembic_config(dagster_sql.__file__)
        _MigrationsReadOnce.from_config(config).as_revision_number("head")


class KeptConnectionSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` that keeps one open connection per event log file (the last ``KEPT_FILES``)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[tuple[int, str], Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KeptConnectionSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """This process's engine for ``shard`` (called under ``_db_lock``); the least recently used one is closed."""
        key = (os.getpid(), shard)
        engine = self._engines.pop(key, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool, pool_size=1, max_overflow=4,  # a first write inspects the file on a second one
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )  # fmt: skip
        self._engines[key] = engine
        while len(self._engines) > KEPT_FILES:
            (pid, _), oldest = self._engines.popitem(last=False)
            oldest.dispose(close=pid == os.getpid())  # another process's connections are not this one's to close
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_kept(self) -> None:
        with self._db_lock:
            while self._engines:
                (pid, _), engine = self._engines.popitem()
                engine.dispose(close=pid == os.getpid())

    def wipe(self) -> None:
        self._close_kept()  # its files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._close_kept()
        super().dispose()


class KeptConnectionSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite instance storage (runs, event logs, schedules under ``base_dir``), its event logs kept open."""

    def __init__(self, base_dir: str, inst_data=None):
        read_migrations_once()
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptConnectionSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KeptConnectionSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

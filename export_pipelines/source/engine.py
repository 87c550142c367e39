"""Source database engines, set up so that every dialect behaves the same way for exports."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from export_pipelines.errors import SourceDatabaseError, TransientSourceError
from export_pipelines.failures import describe, is_transient

_ENGINES: dict[str, sa.Engine] = {}
_LOCK = threading.Lock()


def source_engine(url: str) -> sa.Engine:
    """One pooled engine per URL and process: steps of a run share connections instead of reconnecting."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _create(url)
        return engine


def _create(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        # psycopg 3: the COPY fast path needs it, and it is what the project installs.
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(parsed, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_session)
    elif engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _postgres_session)
    return engine


def _sqlite_session(dbapi_connection, _record):
    # LIKE is case-insensitive in SQLite by default and case-sensitive in PostgreSQL; pick one meaning.
    dbapi_connection.execute("PRAGMA case_sensitive_like = ON")
    # SQLite's lower() folds ASCII only; PostgreSQL's folds every letter: search matches É as é on both.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _postgres_session(dbapi_connection, _record):
    # Timestamps leave the server in UTC whatever the server's default, so parsing never guesses.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


@contextmanager
def source_connection(url: str) -> Iterator[sa.Connection]:
    """A connection whose failures surface as TransientSourceError (see ``failures.is_transient``) or
    SourceDatabaseError, each worded by ``failures.describe``: the SQL text and the values bound to it (a
    requester's filter values) never reach the run's stored failure. They are raised ``from None`` because
    Dagster stores the messages of an error's whole chain.

    A connection that cannot be made keeps the driver's own words (host, port, what refused it): there is
    no statement in them.
    """
    try:
        with source_engine(url).connect() as connection:
            yield connection
    except (sa.exc.DBAPIError, sa.exc.StatementError, *_driver_errors()) as error:
        transient = is_transient(error)
        if transient and _connecting(error):
            raise TransientSourceError(f"source database unavailable: {getattr(error, 'orig', None) or error}"
                                       ) from None  # fmt: skip
        if transient:
            raise TransientSourceError(f"source database unavailable: {describe(error)}") from None
        raise SourceDatabaseError(f"the source database refused the export's query: {describe(error)}; check that"
                                  " the catalog matches the database's tables and grants") from None  # fmt: skip


def _connecting(error: BaseException) -> bool:
    """A failure to connect or a lost connection: libpq's own error, which carries no SQLSTATE and no SQL."""
    orig = getattr(error, "orig", error)
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.DisconnectionError) and (
        getattr(orig, "sqlstate", None) is None and not isinstance(orig, sqlite3.Error)
    )


def _driver_errors() -> tuple[type[BaseException], ...]:
    """Errors raised by the drivers themselves (the COPY fast path talks to psycopg directly)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)

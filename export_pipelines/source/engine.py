"""Source database engines, set up so that every dialect behaves the same way for exports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from export_pipelines.errors import TransientSourceError
from export_pipelines.run.failures import is_transient

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
    """A connection whose transient failures (see ``failures.is_transient``) surface as TransientSourceError.

    Others (a missing table, a refused password) pass unchanged: a retry cannot fix them.
    """
    try:
        with source_engine(url).connect() as connection:
            yield connection
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError) as error:
        if not is_transient(error):
            raise
        raise TransientSourceError(f"source database unavailable: {getattr(error, 'orig', None) or error}") from error

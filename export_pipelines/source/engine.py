"""Source database engines, set up so that every dialect behaves the same way for exports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from export_pipelines.errors import TransientSourceError

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


def _postgres_session(dbapi_connection, _record):
    # Timestamps leave the server in UTC whatever the server's default, so parsing never guesses.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


@contextmanager
def source_connection(url: str) -> Iterator[sa.Connection]:
    """A connection whose connectivity failures surface as TransientSourceError (worth a retry)."""
    try:
        with source_engine(url).connect() as connection:
            yield connection
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError) as error:
        if isinstance(error, sa.exc.DBAPIError) and not error.connection_invalidated and _is_permanent(error):
            raise
        raise TransientSourceError(f"source database unavailable: {error.orig or error}") from error


def _is_permanent(error: sa.exc.DBAPIError) -> bool:
    """Missing tables and columns are OperationalErrors in SQLite but no retry can fix them."""
    text = str(error.orig).lower()
    return any(sign in text for sign in ("no such table", "no such column", "does not exist", "syntax error"))

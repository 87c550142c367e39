"""Defaults that come from the environment, read when a run starts (never at import time)."""

from __future__ import annotations

import os
from pathlib import Path

SOURCE_URL_ENV = "EXPORT_SOURCE_DB_URL"
STORAGE_URL_ENV = "EXPORT_STORAGE_URL"
MAX_ROWS_ENV = "EXPORT_MAX_ROWS"
RETENTION_DAYS_ENV = "EXPORT_RETENTION_DAYS"
SERVER_TEXT_ENV = "EXPORT_SERVER_TEXT"
PARALLEL_READERS_ENV = "EXPORT_PARALLEL_READERS"
SERVER_CHUNK_ROWS_ENV = "EXPORT_SERVER_CHUNK_ROWS"
DEFAULT_SERVER_CHUNK_ROWS = 1_000_000
DEFAULT_PARALLEL_READERS = 2
MAX_PARALLEL_READERS = 8  # with the coordinator, within the source pool's 15 connections (5 + 10 overflow)
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_RETENTION_DAYS = 30


def data_dir() -> Path:
    """Where the embedded default keeps its files: ``$EXPORT_DATA_DIR``, else ./var."""
    return Path(os.environ.get("EXPORT_DATA_DIR", "var")).resolve()


def default_source_url() -> str:
    return os.environ.get(SOURCE_URL_ENV) or f"sqlite:///{data_dir() / 'demo.sqlite'}"


def default_storage_url() -> str:
    return os.environ.get(STORAGE_URL_ENV) or str(data_dir() / "exports")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a whole number") from None


def server_text_enabled() -> bool:
    """``$EXPORT_SERVER_TEXT``: ``on`` (the default) lets PostgreSQL write CSV and JSON Lines bytes itself
    where they come out the same; ``off`` reads rows and encodes them in the run, as other sources do."""
    raw = (os.environ.get(SERVER_TEXT_ENV) or "on").strip().lower()
    if raw not in ("on", "off"):
        raise ValueError(f"{SERVER_TEXT_ENV}={raw!r} must be on or off")
    return raw == "on"


def server_chunk_rows() -> int:
    """``$EXPORT_SERVER_CHUNK_ROWS``: the fewest rows in a chunk PostgreSQL writes itself (CSV, JSON Lines), whatever
    the request's chunk_size (see ``source.server_text.chunk_rows``)."""
    rows = env_int(SERVER_CHUNK_ROWS_ENV, DEFAULT_SERVER_CHUNK_ROWS)
    if rows < 1:
        raise ValueError(f"{SERVER_CHUNK_ROWS_ENV}={rows} must be a whole number of at least 1")
    return rows


def parallel_readers() -> int:
    """``$EXPORT_PARALLEL_READERS``: at most this many connections read one PostgreSQL export at once, each
    a range of keys (see source.read_ranges); 1 reads every export with one statement."""
    readers = env_int(PARALLEL_READERS_ENV, DEFAULT_PARALLEL_READERS)
    if not 1 <= readers <= MAX_PARALLEL_READERS:
        raise ValueError(f"{PARALLEL_READERS_ENV}={readers} must be a whole number from 1 to {MAX_PARALLEL_READERS}")
    return readers

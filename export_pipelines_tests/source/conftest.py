"""Seeded demo sources for the source tests: SQLite and PostgreSQL, and every order read back plainly."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa

from export_pipelines.demo import orders, seed_demo

ROWS = 500


# Module scope: every module seeds its own rows, so a module that reseeds the shared PostgreSQL
# database (with another row count) between two modules cannot change what these tests see.
@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'demo.sqlite'}"
    seed_demo(url, rows=ROWS)
    return url


@pytest.fixture(scope="module")
def postgres_url(postgres_server_url) -> str:
    seed_demo(postgres_server_url, rows=ROWS)
    return postgres_server_url


@pytest.fixture(scope="module")
def _plain_rows() -> dict:
    return {}


@pytest.fixture(params=["sqlite", "postgres"])
def source(request, _plain_rows) -> tuple[str, list[dict]]:
    """(url, every order as plain SQLAlchemy reads it in key order, timestamps as aware UTC)."""
    url = request.getfixturevalue(f"{request.param}_url")
    if url not in _plain_rows:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(sa.select(orders).order_by(orders.c.order_id))]
        engine.dispose()
        for row in rows:
            created = row["created_at"]
            row["created_at"] = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
        _plain_rows[url] = rows
    return url, _plain_rows[url]

"""The query tests' sources: the seeded demo data on SQLite and PostgreSQL, and every order read back plainly."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa

from export_pipelines.demo.seed import orders


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

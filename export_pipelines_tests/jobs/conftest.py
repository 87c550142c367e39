"""Seeded sources (SQLite and PostgreSQL) and a helper that runs export_job the CLI's way."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from export_pipelines.demo.seed import orders, seed_demo
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.exported import run_decrypted

SEED_ROWS = 1_500


@pytest.fixture(scope="session")
def sqlite_source(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'demo.sqlite'}"
    seed_demo(url, rows=SEED_ROWS)
    return url


@pytest.fixture(scope="session")
def postgres_source(postgres_server_url):
    seed_demo(postgres_server_url, rows=SEED_ROWS)
    return postgres_server_url


@pytest.fixture(params=["sqlite", "postgres"])
def source_url(request):
    """Each job test runs once against SQLite and once against PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_source")


@pytest.fixture
def export_env(source_url, dagster_home, tmp_path, monkeypatch):
    """Point the job's resources at the seeded source and a fresh data folder."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", source_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    return tmp_path / "var"


@pytest.fixture
def run(export_env, tmp_path):
    """Run one export like the CLI does; return (audit record, path of a decrypted copy or None)."""

    def run_one(**fields):
        return run_decrypted(ExportRequest(**fields), DagsterInstance.get(), tmp_path)

    return run_one


@pytest.fixture
def source_rows(source_url):
    """Every order as the database holds it, timestamps as aware UTC: the reference for comparisons."""
    engine = sa.create_engine(source_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(orders).order_by(orders.c.order_id))]
        grants = connection.execute(
            sa.text("SELECT tenant_id FROM export_permissions WHERE user_name = 'analyst' AND dataset = 'orders'")
        ).scalars().all()
    engine.dispose()
    for row in rows:
        created = row["created_at"]
        row["created_at"] = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    return {"rows": rows, "analyst_tenants": set(grants)}

"""User names chosen to collide with storage layout cannot touch another key.

A user named ``_staging`` once made the published key equal to the staging key: the upload skipped
the move, deleted staging (the published file) and reported success. Keys no longer contain the
user name at all, so these names export like any other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from export_pipelines.demo.seed import export_permissions, seed_demo
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.exported import run_decrypted

ROWS = 300
HOSTILE = ["_staging", ".", "..", "files", "a" * 128, "admin/../x".replace("/", "")]


@pytest.fixture
def hostile_env(tmp_path, dagster_home, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hostile.sqlite'}"
    seed_demo(url, rows=ROWS)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            export_permissions.insert(), [{"user_name": n, "dataset": "*", "tenant_id": "*"} for n in HOSTILE]
        )
    engine.dispose()
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    return tmp_path / "var" / "exports"


@pytest.mark.parametrize("user", HOSTILE, ids=["_staging", "dot", "dotdot", "files", "long", "dots-inside"])
def test_a_hostile_user_name_exports_to_its_own_run_folder(hostile_env, user, tmp_path):
    request = ExportRequest(user=user, dataset="orders", format="jsonl")
    record, decrypted = run_decrypted(request, DagsterInstance.get(), tmp_path)

    assert record.status == "SUCCESS", record.error
    assert record.file_key.startswith(f"files/{record.run_id}/")
    assert len(Path(decrypted).read_text(encoding="utf-8").splitlines()) == record.rows == ROWS
    staging = hostile_env / "_staging"
    assert not staging.exists() or not any(staging.rglob("*")), "staging is gone, the published file stays"


def test_a_look_alike_user_name_is_refused_before_anything_is_read(hostile_env, tmp_path):
    look_alike = "\u0430dmin"  # Cyrillic a
    record, decrypted = run_decrypted(ExportRequest(user=look_alike, dataset="orders"), DagsterInstance.get(), tmp_path)

    assert record.status == "FAILURE" and decrypted is None
    assert "user" in record.error and "letters, digits" in record.error

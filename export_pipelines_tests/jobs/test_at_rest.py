"""Every byte an export stores is ciphertext: final files, staged chunks and step outputs, on a folder and on S3.

Each test looks for a value it knows is in the data (a customer's name, a filter value) in
everything the storage holds, and must not find it; the decrypted copy must hold it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, build_input_context, build_op_context, build_output_context

from export_pipelines.demo.seed import customers
from export_pipelines.request.model import ExportRequest
from export_pipelines.run.ops.collect import collect_chunks
from export_pipelines.run.ops.validate import validate_request
from export_pipelines.run.resources import (
    CatalogResource,
    ExportLimitsResource,
    ExportStorageResource,
    SourceDatabaseResource,
)
from export_pipelines.run.step_outputs import StepOutputIOManager
from export_pipelines_tests.exported import run_decrypted


@pytest.fixture(params=["local", "s3"])
def stored_bytes(request, sqlite_source, dagster_home, tmp_path, monkeypatch):
    """Point exports at a folder or a bucket; return a function giving every byte stored there."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_source)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SMTP_HOST", raising=False)
    if request.param == "local":
        folder = tmp_path / "store"
        monkeypatch.setenv("EXPORT_STORAGE_URL", str(folder))
        return lambda: b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    server = request.getfixturevalue("s3_env")
    bucket = server.create_bucket("at-rest")
    monkeypatch.setenv("EXPORT_STORAGE_URL", f"s3://{bucket}/tenant-exports")

    def everything() -> bytes:
        objects = server.client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return b"".join(server.client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects)

    return everything


@pytest.fixture
def known_name(sqlite_source) -> str:
    """A customer name that the exports below contain."""
    with sa.create_engine(sqlite_source).connect() as connection:
        return connection.execute(sa.select(customers.c.name).order_by(customers.c.customer_id)).scalars().first()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_published_file_is_ciphertext_and_decrypts_to_the_export(stored_bytes, known_name, fmt):
    request = ExportRequest(user="admin", dataset="customers", format=fmt, chunk_size=100)

    record, decrypted = run_decrypted(request, DagsterInstance.get())

    assert record.status == "SUCCESS", record.error
    assert record.file_key.startswith("files/") and record.key_id
    stored = stored_bytes()
    assert stored and known_name.encode() not in stored
    if fmt == "csv":
        assert known_name in Path(decrypted).read_text(encoding="utf-8")


def test_staged_chunks_are_ciphertext(stored_bytes, known_name):
    resources = {
        "source": SourceDatabaseResource(),
        "catalog": CatalogResource(),
        "storage": ExportStorageResource(),
        "limits": ExportLimitsResource(),
    }
    for fmt in ("csv", "xlsx"):  # encoded chunks and Arrow chunks
        context = build_op_context(resources=resources)
        plan = validate_request(context, config=ExportRequest(user="admin", dataset="customers", format=fmt))
        staged = [output.value for output in collect_chunks(build_op_context(resources=resources), plan)]

        assert staged and all(chunk.key.startswith("_staging/") for chunk in staged)
    assert known_name.encode() not in stored_bytes()


def test_step_outputs_are_ciphertext_and_load_back(stored_bytes):
    manager = StepOutputIOManager(storage=ExportStorageResource())
    value = {"filters": ["customer_name eq 'Ünïque Filter Välue'"], "rows": 3}
    output = build_output_context(run_id="run-1", step_key="transform_chunk[chunk_000002]", name="result")

    manager.handle_output(output, value)

    assert "Ünïque Filter Välue".encode() not in stored_bytes()
    assert b"_staging" not in stored_bytes()  # nothing but ciphertext, not even the key
    assert manager.load_input(build_input_context(upstream_output=output)) == value

"""collect_chunks on PostgreSQL, where a thread reads the COPY statements ahead of the op."""

from __future__ import annotations

import io
import threading

import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, Failure, build_op_context

from export_pipelines.request.model import ExportRequest
from export_pipelines.run.ops import collect as collect_module
from export_pipelines.run.ops.collect import collect_chunks
from export_pipelines.run.ops.validate import validate_request
from export_pipelines.run.resources import (
    CatalogResource,
    ExportLimitsResource,
    ExportStorageResource,
    SourceDatabaseResource,
)
from export_pipelines.run.staging import read_chunk
from export_pipelines.source.engine import source_connection
from export_pipelines.source.server_text import chunk_rows


def _resources(postgres_url, tmp_path, monkeypatch) -> dict:
    """The job's resources, pointed at PostgreSQL the deployment's way: through the environment."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", postgres_url)
    monkeypatch.setenv("EXPORT_STORAGE_URL", str(tmp_path / "exports"))
    return {
        "source": SourceDatabaseResource(),
        "storage": ExportStorageResource(),
        "catalog": CatalogResource(),
        "limits": ExportLimitsResource(),
    }


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("format_name", ["csv", "json"])  # the server writes CSV; JSON rows are encoded here
def test_a_failure_while_staging_stops_the_reader_and_gives_back_a_usable_connection(
    postgres_url, tmp_path, monkeypatch, format_name, small_server_chunks
):
    """The reading thread holds the connection while it waits to hand over rows: the op must stop
    it before the connection goes back to the pool, or the pool's rollback would wait forever."""
    resources = _resources(postgres_url, tmp_path, monkeypatch)
    request = ExportRequest(user="admin", dataset="orders", format=format_name, chunk_size=25)
    plan = validate_request(build_op_context(resources=resources), config=request)
    open_chunk = collect_module._chunk_file

    def failing_open(target, key):
        if "chunk-000002" in key:
            raise OSError("disk full")
        return open_chunk(target, key)

    monkeypatch.setattr(collect_module, "_chunk_file", failing_open)
    outcome = {}

    def collect():
        context = build_op_context(resources=resources, instance=DagsterInstance.ephemeral())
        try:
            outcome["chunks"] = [output.value for output in collect_chunks(context, plan)]
        except Failure as failure:  # an OSError without an errno says nothing transient: it fails at once
            outcome["error"] = failure.__cause__

    worker = threading.Thread(target=collect, daemon=True)
    worker.start()
    worker.join(60)

    assert not worker.is_alive(), "collect_chunks hung after the staging failure"
    assert str(outcome.get("error")) == "disk full"
    assert not [t for t in threading.enumerate() if t.name == "run-ahead"]
    with source_connection(postgres_url) as connection:  # the pooled connection works
        assert connection.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 500


@pytest.mark.parametrize("format_name", ["csv", "parquet"])
def test_every_row_is_staged_once_in_key_order(postgres_url, tmp_path, monkeypatch, format_name, small_server_chunks):
    resources = _resources(postgres_url, tmp_path, monkeypatch)
    request = ExportRequest(user="admin", dataset="orders", format=format_name, chunk_size=64)
    plan = validate_request(build_op_context(resources=resources), config=request)

    chunks = [o.value for o in collect_chunks(build_op_context(resources=resources), plan)]

    assert [c.rows for c in chunks] == [64] * 7 + [500 - 7 * 64]
    assert all(c.encoded == (format_name == "csv") for c in chunks)
    # What was staged, read back chunk by chunk: the source's keys, in order, each once.
    staged = [_staged_keys(resources["storage"].get(), chunk) for chunk in chunks]
    assert [len(keys) for keys in staged] == [c.rows for c in chunks]
    with source_connection(postgres_url) as connection:
        source_keys = connection.execute(sa.text("SELECT order_id FROM orders ORDER BY order_id")).scalars().all()
    assert [key for keys in staged for key in keys] == source_keys and len(set(source_keys)) == 500


@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_text_formats_are_staged_from_the_servers_own_bytes(
    postgres_url, tmp_path, monkeypatch, format_name, small_server_chunks
):
    """No row is read into Arrow: the server's COPY output is staged as it is, in chunks of whole rows."""
    resources = _resources(postgres_url, tmp_path, monkeypatch)
    request = ExportRequest(user="analyst", dataset="orders", format=format_name, chunk_size=64, sort="customer_name")
    plan = validate_request(build_op_context(resources=resources), config=request)
    monkeypatch.setattr(collect_module, "keyset_chunks", lambda *arguments: pytest.fail("rows were read"))

    chunks = [o.value for o in collect_chunks(build_op_context(resources=resources), plan)]

    assert sum(c.rows for c in chunks) == plan.visible_rows and all(c.encoded for c in chunks)
    assert [c.rows for c in chunks[:-1]] == [64] * (len(chunks) - 1) and chunks[-1].last
    with resources["storage"].get().open_read(chunks[0].key) as staged:
        lines = staged.read().split(b"\n")
    assert len(lines) >= 65 and (format_name == "csv" or all(line.startswith(b'{"order_id":') for line in lines[:64]))


@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_chunks_the_server_writes_hold_at_least_a_million_rows(postgres_url, tmp_path, monkeypatch, format_name):
    """chunk_size bounds the rows this process holds; the server's bytes are never held, and every chunk is a
    transform step: 500 rows the server writes are one chunk whatever chunk_size asks, rows read here are not."""
    resources = _resources(postgres_url, tmp_path, monkeypatch)
    request = ExportRequest(user="admin", dataset="orders", format=format_name, chunk_size=64)
    plan = validate_request(build_op_context(resources=resources), config=request)

    chunks = [o.value for o in collect_chunks(build_op_context(resources=resources), plan)]

    assert [(c.rows, c.encoded, c.last) for c in chunks] == [(500, True, True)]
    assert chunk_rows(64) == 1_000_000 and chunk_rows(2_000_000) == 2_000_000
    monkeypatch.setenv("EXPORT_SERVER_CHUNK_ROWS", "0")
    with pytest.raises(Failure, match="EXPORT_SERVER_CHUNK_ROWS=0 must be a whole number of at least 1"):
        list(collect_chunks(build_op_context(resources=resources), plan))
    monkeypatch.setenv("EXPORT_SERVER_CHUNK_ROWS", "200")  # an operator's choice, the request's if larger
    chunks = [o.value for o in collect_chunks(build_op_context(resources=resources), plan)]
    assert [c.rows for c in chunks] == [200, 200, 100]
    monkeypatch.setenv("EXPORT_SERVER_TEXT", "off")  # rows read and encoded here: chunk_size's chunks
    chunks = [o.value for o in collect_chunks(build_op_context(resources=resources), plan)]
    assert [c.rows for c in chunks] == [64] * 7 + [500 - 7 * 64] and all(c.encoded for c in chunks)


def test_with_server_text_off_rows_are_read_and_encoded_in_the_run(postgres_url, tmp_path, monkeypatch):
    resources = _resources(postgres_url, tmp_path, monkeypatch)
    plan = validate_request(build_op_context(resources=resources), config=ExportRequest(user="admin", dataset="orders"))
    monkeypatch.setenv("EXPORT_SERVER_TEXT", "off")
    monkeypatch.setattr(collect_module, "server_text_chunks", lambda *arguments: pytest.fail("the server wrote it"))

    chunks = [o.value for o in collect_chunks(build_op_context(resources=resources), plan)]

    assert sum(c.rows for c in chunks) == 500 and all(c.encoded for c in chunks)
    monkeypatch.setenv("EXPORT_SERVER_TEXT", "sometimes")
    with pytest.raises(Failure, match="EXPORT_SERVER_TEXT='sometimes' must be on or off"):
        list(collect_chunks(build_op_context(resources=resources), plan))


def _staged_keys(storage, chunk) -> list[int]:
    """The order_id of every row of a staged chunk: Arrow rows, or CSV rows (no header) with order_id first."""
    if not chunk.encoded:
        return read_chunk(storage, chunk.key).column("order_id").to_pylist()
    with storage.open_read(chunk.key) as staged:
        data = staged.read()
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
    )
    return table.column(0).to_pylist()

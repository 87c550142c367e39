"""Several readers for one PostgreSQL export: ranges of the order's first column from the statistics, one
snapshot, the same file.

Each test module seeds a database of its own: the consistency tests write to it while an export runs.
A range needs only the snapshot's id (``run.readers.read_range``), so ranges are also read here in other
processes than the one holding the snapshot, as steps on other workers would read them.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, Failure, build_op_context

from export_pipelines.demo.seed import seed_demo
from export_pipelines.failures import is_transient
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.plan import published_key
from export_pipelines.run import readers as readers_module
from export_pipelines.run.ops.collect import _ChunkStager, collect_chunks
from export_pipelines.run.ops.render import render_file
from export_pipelines.run.ops.transform import transform_chunk
from export_pipelines.run.ops.validate import validate_request
from export_pipelines.run.readers import numbered, read_range
from export_pipelines.run.resources import (
    CatalogResource,
    ExportLimitsResource,
    ExportStorageResource,
    SourceDatabaseResource,
)
from export_pipelines.source import read_ranges
from export_pipelines.source.read_ranges import SnapshotEnded, export_snapshot, join_snapshot, ranged_queries

ROWS = 2_000
READERS = 4
WRITES = [
    "DELETE FROM orders WHERE order_id IN (SELECT order_id FROM orders ORDER BY random() LIMIT 50)",
    "INSERT INTO orders SELECT order_id + (SELECT max(order_id) FROM orders), tenant_id, customer_id,"
    " customer_name, status, amount, currency, quantity, discount_rate, is_paid, created_at, shipped_on, note"
    " FROM orders ORDER BY order_id LIMIT 40",
    "UPDATE orders SET order_id = order_id + 3 * (SELECT max(order_id) FROM orders) WHERE order_id IN"
    " (SELECT order_id FROM orders ORDER BY order_id LIMIT 30)",  # the lowest keys move to the top range
]


@pytest.fixture(scope="module")
def readers_url(postgres_database) -> str:
    url = postgres_database("readers")
    _seed(url)
    return url


def _seed(url: str) -> None:
    seed_demo(url, rows=ROWS)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE orders")  # the statistics the ranges are cut from
    engine.dispose()


@pytest.fixture
def resources(readers_url, tmp_path, monkeypatch) -> dict:
    """The job's resources, pointed at the module's database the deployment's way: through the environment."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", readers_url)
    monkeypatch.setenv("EXPORT_STORAGE_URL", str(tmp_path / "exports"))
    monkeypatch.setenv("EXPORT_PARALLEL_READERS", str(READERS))
    monkeypatch.setattr(read_ranges, "MIN_ROWS_PER_READER", 1)  # the demo's rows are few: split them anyway
    return {
        "source": SourceDatabaseResource(),
        "storage": ExportStorageResource(),
        "catalog": CatalogResource(),
        "limits": ExportLimitsResource(),
    }


def _context(resources):
    return build_op_context(resources=resources, instance=DagsterInstance.ephemeral())


def _exported(resources, request: ExportRequest) -> tuple:
    """(plan, staged chunks, the rendered file's bytes): the ops of a run, one after the other."""
    plan = validate_request(_context(resources), config=request)
    chunks = [output.value for output in collect_chunks(_context(resources), plan)]
    return plan, chunks, _rendered(resources, plan, chunks)


def _rendered(resources, plan, chunks) -> bytes:
    """The file the rest of a run makes of ``chunks``: transformed, rendered, read back."""
    shaped = [transform_chunk(_context(resources), plan, chunk) for chunk in chunks]
    context = _context(resources)
    rendered = render_file(context, plan, shaped)
    bound = published_key(context.run_id, rendered.file_name)
    with resources["storage"].get().open_read(rendered.key, bound_to=bound) as file:
        return file.read()


def _keys(readers_url, sql: str) -> list:
    engine = sa.create_engine(readers_url)
    with engine.connect() as connection:
        keys = connection.exec_driver_sql(sql).scalars().all()
    engine.dispose()
    return keys


def test_the_statistics_cut_the_keys_into_ranges_of_about_equal_rows(resources, readers_url):
    plan = validate_request(_context(resources), config=ExportRequest(user="admin", dataset="orders"))
    assert len(plan.read_split_points) == READERS - 1

    engine = sa.create_engine(readers_url)
    with engine.connect() as connection:
        counts = [
            connection.execute(
                sa.select(sa.func.count()).select_from(query.rows_statement("postgresql").subquery())
            ).scalar()
            for query in ranged_queries(plan.query, plan.read_split_points)
        ]
    engine.dispose()
    assert sum(counts) == ROWS and all(ROWS / READERS * 0.8 <= count <= ROWS / READERS * 1.2 for count in counts)


@pytest.mark.parametrize(
    ("format_name", "sort"),
    [("csv", None), ("jsonl", None), ("parquet", None), ("xlsx", None), ("csv", "order_id:desc"), ("json", None),
     # Sorted on a column without an index: ranges of that column, its many ties each in one range.
     ("csv", "customer_name"), ("csv", "customer_name:desc"), ("jsonl", "customer_name:desc, quantity"),
     ("parquet", "customer_name"),
     # A column with NULLs (last in both directions): they are read by the range that ends the order.
     ("csv", "discount_rate"), ("csv", "discount_rate:desc"), ("csv", "shipped_on:desc")],
)  # fmt: skip
def test_several_readers_write_the_file_one_reader_writes(resources, monkeypatch, format_name, sort):
    where = "amount > 20 and status in (paid, refunded, pending)" if sort else None  # sorted: filtered too
    request = ExportRequest(
        user="analyst", dataset="orders", format=format_name, chunk_size=128, sort=sort, where=where
    )
    plan, chunks, several = _exported(resources, request)
    monkeypatch.setenv("EXPORT_PARALLEL_READERS", "1")
    one_plan, _, one = _exported(resources, request)

    assert plan.read_split_points and not one_plan.read_split_points
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    if format_name == "xlsx":  # the workbook records when it was written: compare what a reader sees
        several, one = _xlsx_cells(several), _xlsx_cells(one)
    assert several == one and len(several) > 1000


def _xlsx_cells(data: bytes) -> list:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [row for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("when", ["before a reader joins the snapshot", "after a reader staged a chunk"])
def test_writes_during_the_export_neither_lose_nor_repeat_a_row(resources, readers_url, monkeypatch, when):
    """Another connection inserts, deletes and moves rows (a new key in another range) while the export is
    held between readers: the file has exactly the rows the database held when the export's snapshot was
    taken, in key order."""
    request = ExportRequest(user="admin", dataset="orders", format="csv", chunk_size=100)
    before = _keys(readers_url, "SELECT order_id FROM orders ORDER BY order_id")
    written, lock = [], threading.Lock()

    def write_once():  # readers run in threads: the first to get here writes, the others wait until it has
        with lock:
            if written:
                return
            engine = sa.create_engine(readers_url)
            with engine.begin() as connection:
                written.extend(connection.exec_driver_sql(statement).rowcount for statement in WRITES)
            engine.dispose()

    if when.startswith("before"):
        join = readers_module.join_snapshot
        monkeypatch.setattr(readers_module, "join_snapshot", lambda *a: (write_once(), join(*a)))
    else:
        from export_pipelines.run.ops import collect as collect_module

        open_chunk = collect_module._chunk_file
        monkeypatch.setattr(collect_module, "_chunk_file", lambda *a: (write_once(), open_chunk(*a))[1])
    try:
        plan, chunks, data = _exported(resources, request)
    finally:
        _seed(readers_url)  # the module's rows back, for the next test

    assert written == [50, 40, 30] and len(plan.read_split_points) == READERS - 1
    table = pacsv.read_csv(io.BytesIO(data))
    assert table.column(0).to_pylist() == before


@pytest.mark.parametrize("value", ["0", "9", "two"])
def test_a_bad_reader_count_fails_validation_naming_the_setting(resources, monkeypatch, value):
    monkeypatch.setenv("EXPORT_PARALLEL_READERS", value)
    with pytest.raises(Failure, match="EXPORT_PARALLEL_READERS"):
        validate_request(_context(resources), config=ExportRequest(user="admin", dataset="orders"))


def test_a_range_the_server_cannot_write_is_staged_as_rows_and_encoded_in_order(resources, monkeypatch):
    """A range's chunk encoded where it was read would number its rows from the range's start (in errors):
    staged as Arrow rows instead, render_file encodes it knowing every row before it."""
    from export_pipelines.run.ops import collect as collect_module

    request = ExportRequest(user="admin", dataset="orders", format="csv", chunk_size=300)
    _, _, by_server = _exported(resources, request)
    monkeypatch.setattr(collect_module, "server_text_chunks", lambda *arguments: None)

    plan, chunks, by_rows = _exported(resources, request)

    assert plan.read_split_points and not any(chunk.encoded for chunk in chunks)
    assert by_rows == by_server


def _read_range_in_this_process(environment: dict, plan, run_id: str, snapshot: str, part: int, query) -> list:
    """What a range step on a worker does: the deployment's resources, the range's chunks staged."""
    os.environ.update(environment)
    source, storage = SourceDatabaseResource(), ExportStorageResource()
    return list(read_range(source, snapshot, part, query, _ChunkStager(plan, storage.get(), run_id)))


@pytest.mark.parametrize("format_name", ["csv", "parquet"])
def test_ranges_read_in_other_processes_in_a_held_snapshot_make_the_file_one_reader_makes(
    resources, readers_url, monkeypatch, format_name
):
    """The snapshot is exported here, rows are deleted, inserted and moved between ranges, then each range is
    read in a process of its own: the file is the one a single reader wrote before the writes."""
    request = ExportRequest(user="admin", dataset="orders", format=format_name, chunk_size=200)
    monkeypatch.setenv("EXPORT_PARALLEL_READERS", "1")
    _, _, before = _exported(resources, request)
    monkeypatch.setenv("EXPORT_PARALLEL_READERS", str(READERS))
    plan = validate_request(_context(resources), config=request)
    queries = ranged_queries(plan.query, plan.read_split_points)
    environment = {key: os.environ[key] for key in ("EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL")}

    engine = sa.create_engine(readers_url)
    try:
        with engine.connect() as holder:
            snapshot = export_snapshot(holder)
            with engine.begin() as writer:
                written = [writer.exec_driver_sql(statement).rowcount for statement in WRITES]
            with ProcessPoolExecutor(len(queries), mp_context=multiprocessing.get_context("spawn")) as pool:
                staged = list(pool.map(_read_range_in_this_process, *zip(*[
                    (environment, plan, "ranges-run", snapshot, part, query) for part, query in enumerate(queries)
                ])))  # fmt: skip
    finally:
        engine.dispose()
        _seed(readers_url)

    chunks = numbered(staged)
    chunks[-1] = dataclasses.replace(chunks[-1], last=True)
    assert written == [50, 40, 30] and len(queries) == READERS and all(staged)
    several = _rendered(resources, plan, chunks)
    if format_name == "parquet":  # the file records when it was written: compare the rows
        several, before = _parquet_rows(several), _parquet_rows(before)
    assert several == before


def _parquet_rows(data: bytes) -> list:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_a_reader_after_the_holder_closed_fails_rather_than_read_another_moment(readers_url):
    engine = sa.create_engine(readers_url)
    try:
        with engine.connect() as holder:
            snapshot = export_snapshot(holder)
        with engine.connect() as reader, pytest.raises(SnapshotEnded, match="snapshot ended") as raised:
            join_snapshot(reader, snapshot)
    finally:
        engine.dispose()
    assert not is_transient(raised.value)  # a retry of this range alone cannot read that moment again

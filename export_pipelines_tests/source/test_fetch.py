"""Fetching chunks into Arrow: exact values on both dialects, and PostgreSQL's two paths agreeing.

On PostgreSQL ``fetch_chunk`` takes the COPY path; ``_fetch_rows`` is the path every other dialect
takes. Both must give the same table for the same statement, NULL and '' kept apart.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.source import copy_out as copy_out_module
from export_pipelines.source.engine import source_connection
from export_pipelines.source.fetch import _fetch_by_copy, _fetch_rows, chunk_schema, fetch_chunk, keyset_chunks
from export_pipelines.source.query import Condition, ExportQuery

DATASET = load_catalog().dataset("orders")
ALL_COLUMNS = tuple(DATASET.column_names)
SCHEMA = chunk_schema(DATASET, ALL_COLUMNS)


def test_fetched_values_are_exactly_the_stored_values(source):
    url, rows = source
    query = ExportQuery(DATASET, ALL_COLUMNS, (), None)

    with source_connection(url) as connection:
        table = fetch_chunk(connection, query.chunk_statement(connection.dialect.name, len(rows) + 1, None), SCHEMA)

    assert table.schema == SCHEMA
    assert table.to_pylist() == rows  # decimals to the cent, timestamps to the microsecond, NULL vs ''
    notes = table.column("note").to_pylist()
    assert None in notes and "" in notes


def test_a_chunk_with_no_rows_keeps_the_schema(source):
    url, _ = source
    query = ExportQuery(DATASET, ALL_COLUMNS, (Condition("note", "contains", "no such note"),), None)

    with source_connection(url) as connection:
        table = fetch_chunk(connection, query.chunk_statement(connection.dialect.name, 10, None), SCHEMA)

    assert table.num_rows == 0 and table.schema == SCHEMA


COPY_CASES = {
    "every_row": ExportQuery(DATASET, ALL_COLUMNS, (), None),
    "filtered_sorted": ExportQuery(
        DATASET,
        ALL_COLUMNS,
        (Condition("tenant_id", "in", ("acme", "hooli")), Condition("note", "not_in", ("5%", "x_y"))),
        None,
        (("created_at", True),),
    ),
    "hard_text": ExportQuery(DATASET, ALL_COLUMNS, (Condition("customer_name", "contains", '"'),), None),
    "nothing": ExportQuery(DATASET, ALL_COLUMNS, (Condition("note", "contains", "5_"),), None),
}


@pytest.mark.parametrize("after", [None, (datetime(2024, 10, 27, 0, 30, 0, 500000, tzinfo=UTC), 5)])
@pytest.mark.parametrize("name", sorted(COPY_CASES))
def test_postgres_copy_and_rows_paths_agree(postgres_url, name, after):
    query = COPY_CASES[name]
    schema = chunk_schema(DATASET, query.fetched_columns)
    with source_connection(postgres_url) as connection:
        statement = query.chunk_statement(connection.dialect.name, 1000, after)
        by_rows = _fetch_rows(connection, statement, schema)
        by_copy = _fetch_by_copy(connection, statement, schema)

    assert by_copy.schema == by_rows.schema == schema
    assert by_copy.equals(by_rows)
    if name == "every_row" and after is None:
        notes = by_copy.column("note").to_pylist()
        assert None in notes and "" in notes
        customers = by_copy.column("customer_name").to_pylist()
        assert any("\r\n" in customer for customer in customers) and any('"' in c for c in customers)
    if name != "nothing" and after is None:
        assert by_copy.num_rows > 0


@pytest.mark.parametrize("name", ["every_row", "filtered_sorted"])
def test_the_copy_walk_parses_many_blocks_per_chunk_into_the_same_chunks(postgres_url, monkeypatch, name):
    """A chunk arrives in blocks (2 MB in production, 300 bytes here); the tables must not notice."""
    monkeypatch.setattr(copy_out_module, "BLOCK_BYTES", 300)
    query = COPY_CASES[name]
    schema = chunk_schema(DATASET, query.fetched_columns)
    with source_connection(postgres_url) as connection:
        walked = list(keyset_chunks(connection, query, 64))
        expected, after = [], None
        while True:
            table = _fetch_rows(connection, query.chunk_statement("postgresql", 64, after), schema)
            expected.append(table)
            if table.num_rows < 64:
                break
            last = table.to_pylist()[-1]
            after = tuple(last[column] for column, _ in query.order)

    assert len(walked) == len(expected) > 2
    for got, want in zip(walked, expected):
        assert got.schema == schema and got.equals(want)


def test_a_sorted_export_is_one_sorted_copy_cut_into_chunks(postgres_url, monkeypatch):
    """A keyset walk re-sorts on every page when the sort column has no index: one COPY sorts once."""
    statements = []
    counted = copy_out_module.CopyOut

    class Counted(counted):
        def __init__(self, connection, query, *args, **kwargs):
            statements.append(query)
            super().__init__(connection, query, *args, **kwargs)

    monkeypatch.setattr(copy_out_module, "CopyOut", Counted)
    query = COPY_CASES["filtered_sorted"]
    with source_connection(postgres_url) as connection:
        chunks = list(keyset_chunks(connection, query, 64))
        expected = _fetch_rows(connection, query.chunk_statement("postgresql", 10_000, None), chunk_schema(
            DATASET, query.fetched_columns))  # fmt: skip

    assert len(statements) == 1 and "ORDER BY orders.created_at DESC NULLS LAST" in statements[0]
    assert [table.num_rows for table in chunks[:-1]] == [64] * (len(chunks) - 1) and len(chunks) > 2
    assert pa.concat_tables(chunks).equals(expected)


def test_a_walk_abandoned_halfway_leaves_the_connection_usable(postgres_url, monkeypatch):
    monkeypatch.setattr(copy_out_module, "BLOCK_BYTES", 300)
    with source_connection(postgres_url) as connection:
        chunks = keyset_chunks(connection, COPY_CASES["every_row"], 50)
        first = next(chunks)
        chunks.close()  # the reading thread is stopped and its COPY cancelled before close returns

        assert first.num_rows == 50
        assert connection.execute(sa.text("SELECT count(*) FROM orders")).scalar() > 50
    assert not [t for t in threading.enumerate() if t.name == "run-ahead"]


def test_sqlite_values_stored_by_another_program_are_still_read_exactly(tmp_path):
    """Stored values are typed by Arrow casts; values SQLAlchemy did not write (text in a decimal
    column, a timestamp with an offset) make the chunk go through SQLAlchemy's own conversions."""
    from export_pipelines.demo.seed import seed_demo
    from export_pipelines.source.fetch import _fetch_sqlite

    url = f"sqlite:///{tmp_path / 'odd.sqlite'}"
    seed_demo(url, rows=40)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE orders SET amount = '12.5' WHERE order_id = 3"))
    engine.dispose()
    query = COPY_CASES["every_row"]
    schema = chunk_schema(DATASET, query.fetched_columns)

    with source_connection(url) as connection:
        statement = query.chunk_statement("sqlite", 100, None)
        by_casts, by_rows = _fetch_sqlite(connection, statement, schema), _fetch_rows(connection, statement, schema)
        clean = query.chunk_statement("sqlite", 2, None)  # orders 1 and 2: stored as SQLAlchemy stores them
        assert _fetch_sqlite(connection, clean, schema).equals(_fetch_rows(connection, clean, schema))

    assert by_casts.equals(by_rows)
    assert by_casts.column("amount")[2].as_py() == Decimal("12.50")

"""Fetching chunks into Arrow: exact values on both dialects, and PostgreSQL's two paths agreeing.

On PostgreSQL ``fetch_chunk`` takes the COPY path; ``_fetch_rows`` is the path every other dialect
takes. Both must give the same table for the same statement, NULL and '' kept apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from export_pipelines.catalog import load_catalog
from export_pipelines.source.engine import source_connection
from export_pipelines.source.fetch import _fetch_by_copy, _fetch_rows, chunk_schema, fetch_chunk
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
        "created_at",
        True,
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

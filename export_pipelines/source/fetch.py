"""Fetching one chunk of rows into an Arrow table typed by the catalog.

Two paths produce the same table. PostgreSQL streams the chunk with ``COPY (SELECT ...) TO STDOUT``
and Arrow's multi-threaded CSV parser types it: no Python object is made per value, which keeps a
CSV export within a small factor of a plain psql COPY. Every other dialect goes through SQLAlchemy
rows, column by column.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from export_pipelines.catalog import DatasetSpec


def chunk_schema(dataset: DatasetSpec, columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(name, dataset.columns[name].arrow_type) for name in columns])


def keyset_chunks(connection: sa.Connection, query, size: int) -> Iterator[pa.Table]:
    """Every permitted row of ``query`` as Arrow tables of ``size`` rows (the last may be shorter).

    Each chunk query starts after the last (sort value, key) of the previous chunk, so every
    chunk costs the same however deep into the table it is. At least one table is yielded.
    """
    schema = chunk_schema(query.dataset, query.fetched_columns)
    sort_index = query.fetched_columns.index(query.sort_column) if query.sort_column else None
    key_index = query.fetched_columns.index(query.dataset.key)
    after = None
    while True:
        table = fetch_chunk(connection, query.chunk_statement(connection.dialect.name, size, after), schema)
        yield table
        if table.num_rows < size:
            return
        last = table.slice(table.num_rows - 1)
        sort_value = last.column(sort_index)[0].as_py() if sort_index is not None else None
        after = (sort_value, last.column(key_index)[0].as_py())


def fetch_chunk(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    """Run ``statement`` and return its rows as an Arrow table with ``schema``."""
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        return _fetch_by_copy(connection, statement, schema)
    return _fetch_rows(connection, statement, schema)


def _fetch_rows(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    rows = connection.execute(statement).all()
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    arrays = [pa.array(values, type=f.type, from_pandas=False) for values, f in zip(columns, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _fetch_by_copy(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    # psycopg binds the parameters into COPY client-side, with its own quoting of each value.
    sql = f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)"
    buffer = io.BytesIO()
    with connection.connection.cursor() as cursor, cursor.copy(sql, compiled.params) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return schema.empty_table()
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            true_values=["t"],
            false_values=["f"],
            null_values=[""],
            strings_can_be_null=True,
            # COPY writes NULL as nothing and the empty string as "": keep them apart.
            quoted_strings_can_be_null=False,
        ),
    )

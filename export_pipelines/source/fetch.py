"""Fetching the export's rows, chunk by chunk, into Arrow tables typed by the catalog.

Three paths produce the same tables. PostgreSQL streams every row with one ``COPY (SELECT ...)
TO STDOUT``, cut into chunks as it arrives, and Arrow's multi-threaded CSV parser types it: no
Python object is made per value. A thread reads the COPY while the rows already received are
parsed, so the server never waits for the client. One statement, not a keyset query per chunk:
an export sorted on a column without an index is sorted once, not once per chunk. SQLite hands
over its values as stored (numbers, ISO text) and Arrow's casts type them, column by column, in
a thread that reads ahead of the consumer: half the cost of SQLAlchemy's per-value conversions.
Every other dialect goes through SQLAlchemy rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from export_pipelines.datasets.catalog import DatasetSpec
from export_pipelines.source.gc_relax import gc_relaxed
from export_pipelines.source.run_ahead import run_ahead

# psycopg, and copy_out which is built on it, are imported on the COPY path only: every run's process
# imports this module whatever its source, and a SQLite source would pay ~0.1 s of its start for them.

# Blocks of COPY output (about 2 MB each) the reading thread may hold before parsing catches up.
COPY_BLOCKS_AHEAD = 8


def chunk_schema(dataset: DatasetSpec, columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(name, dataset.columns[name].arrow_type) for name in columns])


def keyset_chunks(connection: sa.Connection, query, size: int) -> Iterator[pa.Table]:
    """Every permitted row of ``query`` as Arrow tables of ``size`` rows (the last may be shorter).

    On PostgreSQL one COPY reads them all. Elsewhere each chunk query starts after the last (sort
    values, key) of the previous chunk, so every chunk costs the same however deep into the table
    it is. At least one table is yielded.
    """
    schema = chunk_schema(query.dataset, query.fetched_columns)
    if _copies(connection):
        yield from _copy_chunks(connection, query, size, schema)
    elif connection.dialect.name == "sqlite":
        yield from run_ahead(_row_walk(connection, query, size, schema, _fetch_sqlite), depth=1)
    else:
        yield from _row_walk(connection, query, size, schema, _fetch_rows)


def _row_walk(connection: sa.Connection, query, size: int, schema: pa.Schema, fetch) -> Iterator[pa.Table]:
    after = None
    while True:
        table = fetch(connection, query.chunk_statement(connection.dialect.name, size, after), schema)
        yield table
        if table.num_rows < size:
            return
        after = _keyset_position(query, table)


def fetch_chunk(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    """Run ``statement`` and return its rows as an Arrow table with ``schema``."""
    if _copies(connection):
        return _fetch_by_copy(connection, statement, schema)
    if connection.dialect.name == "sqlite":
        return _fetch_sqlite(connection, statement, schema)
    return _fetch_rows(connection, statement, schema)


def _copies(connection: sa.Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def _keyset_position(query, table: pa.Table) -> tuple:
    """The sort values and key of the table's last row (``query.order``): where the next chunk starts."""
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    return tuple(last[column] for column, _ in query.order)


def _fetch_sqlite(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    """The chunk from SQLite's stored values, typed by Arrow casts.

    A chunk whose values are not stored the way SQLAlchemy writes them (text in a number column,
    timestamps with an offset: another program wrote them) goes through SQLAlchemy's conversions.
    """
    stored = [_sqlite_storage(field.type) for field in schema]
    raw = statement.with_only_columns(
        *(sa.type_coerce(c, sql_type).label(c.name) for c, (sql_type, _) in zip(statement.selected_columns, stored)),
        maintain_column_froms=True,
    )
    with gc_relaxed():
        result = connection.execute(raw)
        rows = result.cursor.fetchall()  # plain tuples: no Row objects, no per-value processors
        result.close()
        columns = list(zip(*rows)) if rows else [() for _ in schema]
        del rows
        try:
            arrays = [
                _typed(pa.array(values, arrow_type), field.type)
                for values, (_, arrow_type), field in zip(columns, stored, schema)
            ]
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return _fetch_rows(connection, statement, schema)
    return pa.Table.from_arrays(arrays, schema=schema)


def _sqlite_storage(target: pa.DataType) -> tuple[sa.types.TypeEngine, pa.DataType]:
    """How SQLAlchemy's SQLite dialect stores a column of type ``target``, as SQL and Arrow types."""
    if pa.types.is_integer(target) or pa.types.is_boolean(target):
        return sa.Integer(), pa.int64()  # booleans as 0 and 1
    if pa.types.is_floating(target) or pa.types.is_decimal(target):
        return sa.Float(), pa.float64()  # decimals as REAL
    return sa.Text(), pa.string()  # text, and dates and timestamps as ISO text (timestamps naive, in UTC)


def _typed(array: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(target):
        return array.cast(pa.timestamp(target.unit)).cast(target)
    return array if array.type == target else array.cast(target)


def _fetch_rows(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    rows = connection.execute(statement).all()
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    arrays = [pa.array(values, type=f.type, from_pandas=False) for values, f in zip(columns, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _fetch_by_copy(connection: sa.Connection, statement: sa.Select, schema: pa.Schema) -> pa.Table:
    from export_pipelines.source.copy_out import copy_out

    data = copy_out(connection.connection.driver_connection, copy_statement(connection, statement))
    return _parse_copy_csv(data, schema) if data else schema.empty_table()


def _copy_chunks(connection: sa.Connection, query, size: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """One COPY of every row in order: a thread reads it, this generator parses each block as it arrives."""
    from export_pipelines.source.copy_out import copy_chunks

    driver_connection = connection.connection.driver_connection
    statement = copy_statement(connection, query.rows_statement(connection.dialect.name))
    pieces: list[pa.Table] = []
    for block in run_ahead(copy_chunks(driver_connection, statement, size), COPY_BLOCKS_AHEAD):
        if not isinstance(block, int):
            pieces.append(_parse_copy_csv(block, schema))
            continue
        yield pa.concat_tables(pieces) if pieces else schema.empty_table()  # a count: the chunk is complete
        pieces = []


def copy_statement(connection: sa.Connection, statement: sa.Select, options: str = "FORMAT csv") -> str:
    """``COPY (statement) TO STDOUT WITH (options)``, its values bound into the text."""
    import psycopg

    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    # COPY takes no parameters: psycopg binds them client-side, with its own quoting of each value.
    select = psycopg.ClientCursor(connection.connection.driver_connection).mogrify(compiled.string, compiled.params)
    return f"COPY ({select}) TO STDOUT WITH ({options})"


def _parse_copy_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
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

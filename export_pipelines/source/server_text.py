"""Chunks whose bytes the PostgreSQL server writes itself: one COPY of the output's own text.

A format that can say how the server writes its bytes (``formats.base.ServerText``: the row's
values as SQL, COPY's CSV options) gets them straight from the wire, cut into chunks of whole
rows: no value is parsed or encoded in this process. The predicate (filters, search, the tenants
the user is granted), the order and the chunking are the ones the Arrow path uses (``ExportQuery``).

The server writes the same text as the client's conversions only under known conditions, so
this path is taken only when they hold, and the caller encodes rows itself otherwise:

- the source is PostgreSQL through psycopg, and the connection's encoding is UTF-8;
- each output column has the type the catalog says (``EXPECTED_TYPES``; a decimal has the
  catalog's scale and at most its precision, so its text has exactly that many decimals). A
  ``real`` float, a ``char(n)`` text or a ``timestamp`` without time zone would read differently;
- the server knows the request's time zone (both take their zones from the tz database).

While the COPY runs, the transaction's settings are pinned (``SET LOCAL``, undone when the
connection goes back to the pool): ``TimeZone`` the request's, ``DateStyle`` ISO,
``extra_float_digits`` 1 (the shortest text that reads back as the same double), and ``jit``
off: the formatting expressions are large, so a million rows pass the planner's JIT threshold, and
compiling them cost more than it saved (1M orders as CSV: 3.9 s of server time with JIT, 1.6 s
without, against 0.9 s for the plain columns).
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from export_pipelines.settings import server_chunk_rows
from export_pipelines.source.fetch import copy_statement
from export_pipelines.source.query import ExportQuery

# Type OIDs PostgreSQL reports per catalog type (int2, int4, int8; float8; numeric; text, varchar;
# bool; date; timestamptz).
EXPECTED_TYPES = {
    "integer": {20, 21, 23},
    "float": {701},
    "decimal": {1700},
    "string": {25, 1043},
    "boolean": {16},
    "date": {1082},
    "timestamp": {1184},
}
_UNKNOWN_SETTING_VALUE = "22023"  # invalid_parameter_value: the server does not know the time zone


def chunk_rows(requested: int) -> int:
    """Rows per chunk the server writes, for a request asking for chunks of ``requested`` rows: at least
    ``$EXPORT_SERVER_CHUNK_ROWS`` (1,000,000).

    A request's chunk_size bounds the rows this process holds at once. The server's bytes are never held
    (they are staged in 2 MiB blocks as they arrive), so smaller chunks would only add steps: each chunk is
    a transform_chunk step with nothing to do for it (about 20 ms in process, a task on Celery) and a file
    for render_file to open. 10M orders as CSV in 100,000-row chunks took 100 such steps: 1.4 s of 22.6 s.
    """
    return max(requested, server_chunk_rows())


def server_text_chunks(connection: sa.Connection, query: ExportQuery, text, size: int) -> Iterator | None:
    """The export's bytes as ``text`` (a ``ServerText``) has the server write them, in chunks of
    ``size`` rows (an export's: ``chunk_rows``): each chunk's blocks, then its row count (``copy_out.copy_chunks``).

    None, having read nothing, when the server cannot write them as the client would (see the
    module docstring): the caller then reads rows and encodes them.
    """
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        return None
    driver_connection = connection.connection.driver_connection
    if driver_connection.info.encoding != "utf-8" or not _typed_as_catalog(connection, query):
        return None
    if not _pin_settings(connection, text.timezone):
        return None
    from export_pipelines.source.copy_out import copy_chunks

    def select_list(columns) -> list:
        return [value.label(f"c{index}") for index, value in enumerate(text.values(columns))]

    statement = query.rows_statement("postgresql", select_list)
    return copy_chunks(driver_connection, copy_statement(connection, statement, _copy_options(text)), size)


def _copy_options(text) -> str:
    from psycopg import sql

    def literal(character: str) -> str:
        return sql.Literal(character).as_string()

    options = f"FORMAT csv, DELIMITER {literal(text.delimiter)}, QUOTE {literal(text.quote)}"
    if text.force_quote is None:
        return options + ", FORCE_QUOTE *"
    if text.force_quote:
        return options + f", FORCE_QUOTE ({', '.join(f'c{index}' for index in text.force_quote)})"
    return options


def _typed_as_catalog(connection: sa.Connection, query: ExportQuery) -> bool:
    """Whether every output column has the catalog's type in the database, from a statement that reads no row."""
    table = query.table()
    result = connection.execute(sa.select(*(table.c[name] for name in query.columns)).where(sa.false()))
    described = result.cursor.description
    result.close()
    for name, column in zip(query.columns, described, strict=True):
        spec = query.dataset.columns[name]
        if column.type_code not in EXPECTED_TYPES[spec.type]:
            return False
        if spec.type == "decimal" and (column.scale != spec.scale or (column.precision or 0) > spec.precision):
            return False
    return True


def _pin_settings(connection: sa.Connection, timezone: str) -> bool:
    """Pin the transaction's settings (module docstring); False if the server does not know the zone."""
    settings = sa.text(
        "SELECT set_config('TimeZone', :zone, true), set_config('DateStyle', 'ISO, MDY', true),"
        " set_config('extra_float_digits', '1', true), set_config('jit', 'off', true)"
    )
    try:
        with connection.begin_nested():  # a savepoint: a refused zone leaves the transaction usable
            connection.execute(settings, {"zone": timezone})
    except sa.exc.DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == _UNKNOWN_SETTING_VALUE:
            return False
        raise
    return True

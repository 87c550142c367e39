"""The bytes PostgreSQL writes itself (``server_text_chunks``) against today's renderers, byte for byte.

Golden test on the demo data plus hostile rows: for every CSV and JSON Lines option the server
can express, the file built from the server's COPY output must equal the file the renderer writes
from the rows (``keyset_chunks``, shaped, ``encode_chunk``), chunk boundaries included. Options it
cannot express must make the format say so (``server_text()`` is None), so the export falls back.
"""

from __future__ import annotations

import dataclasses
import io
import random
import struct
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.display.styles import DisplayRules
from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines.formats.json_values import _json_values
from export_pipelines.formats.sql_text import arrow_float_text, python_float_text
from export_pipelines.run.shaping import shape_table
from export_pipelines.source.engine import source_connection
from export_pipelines.source.fetch import keyset_chunks
from export_pipelines.source.query import ExportQuery
from export_pipelines.source.server_text import server_text_chunks
from export_pipelines_tests.formats.samples import shaped_schema

DATASET = load_catalog().dataset("orders")
COLUMNS = tuple(DATASET.columns.values())
CHUNK = 97  # several chunks, none aligned with anything
HOSTILE_TEXT = [
    '="1+1"', "+", "-", "@", "\tlead tab", "\rlead CR", "'quoted already", '"', '""', "a,b;c|d'e", "back\\slash",
    "\\.", "\\N", "NULL", "null", " ", "ünïcödé ✓ 😀 注文", "\u2028\u2029", "\x7f", "\x01\x1f", "tail\n", "\n",
]  # fmt: skip
HOSTILE_FLOATS = [
    1e-5, 1.5e-7, -2.5e-6, 12345678901.5, 123456789012.5, 1e15, 1234567890123456.5, 4.02551930195363e16,
    6.75385500298592e18, 1e300, -1e-300, 5e-324, 1.7976931348623157e308, float("nan"), float("inf"),
    float("-inf"), -0.0, 1.0,
]  # fmt: skip
HOSTILE_INSTANTS = [
    datetime(1000, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
    datetime(9999, 12, 31, 12, 0, 0, 10, tzinfo=UTC),
]
TIMEZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu", "Etc/GMT+5", "Australia/Lord_Howe"]


@pytest.fixture(scope="module")
def hostile_url(postgres_url) -> str:
    """The seeded demo orders plus rows that hold every hard value once, in tenant 'acme'."""
    engine = sa.create_engine(postgres_url)
    rows, next_id = [], 1_000_000
    for index, value in enumerate(HOSTILE_TEXT + [str(f) for f in HOSTILE_FLOATS]):
        rows.append({
            "order_id": next_id + index, "tenant_id": "acme", "customer_id": 1, "customer_name": value,
            "status": value[::-1], "amount": Decimal(index) / 100 - Decimal("9999.99"), "currency": "EUR",
            "quantity": -index, "discount_rate": HOSTILE_FLOATS[index % len(HOSTILE_FLOATS)], "is_paid": index % 2 == 0,
            "created_at": HOSTILE_INSTANTS[index % len(HOSTILE_INSTANTS)],
            "shipped_on": [date(1000, 1, 1), date(9999, 12, 31), None][index % 3], "note": value + value,
        })  # fmt: skip
    with engine.begin() as connection:
        connection.execute(sa.table("orders", *(sa.column(name) for name in rows[0])).insert(), rows)
    engine.dispose()
    return postgres_url


def _context(format_name: str, options: dict, timezone: str, columns=COLUMNS) -> RenderContext:
    return RenderContext(columns, options, "Orders", timezone)


def _by_renderer(url: str, query: ExportQuery, context: RenderContext, format_name: str) -> bytes:
    """Today's path: rows into Arrow, shaped, encoded by the renderer, joined by the renderer."""
    stream = io.BytesIO()
    renderer = renderer_class(format_name)(stream, context)
    schema = shaped_schema(context.columns, context.timezone)
    with source_connection(url) as connection:
        for table in keyset_chunks(connection, query, CHUNK):
            renderer.write(shape_table(table, schema))
    renderer.close()
    return stream.getvalue()


def _by_server(url: str, query: ExportQuery, context: RenderContext, format_name: str) -> tuple[bytes, list[int]]:
    """The server's bytes, chunk by chunk, joined by the same renderer; and each chunk's row count."""
    stream = io.BytesIO()
    renderer = renderer_class(format_name)(stream, context)
    text = renderer.server_text()
    assert text is not None, f"{format_name} {context.options} should be written by the server"
    counts, blocks = [], []
    with source_connection(url) as connection:
        written = server_text_chunks(connection, query, text, CHUNK)
        assert written is not None, "the server should write these columns"
        for item in written:
            if isinstance(item, int):
                renderer.write_encoded(b"".join(blocks))
                counts.append(item)
                blocks = []
            else:
                blocks.append(bytes(item))
    renderer.close()
    return stream.getvalue(), counts


def _assert_same_file(url, query, format_name, options, timezone="UTC", columns=COLUMNS):
    context = _context(format_name, options, timezone, columns)
    expected = _by_renderer(url, query, context, format_name)
    got, counts = _by_server(url, query, context, format_name)
    if got != expected:  # show the first differing line, not two megabytes
        for mine, theirs in zip(got.splitlines(), expected.splitlines()):
            assert mine == theirs
    assert got == expected
    assert counts[:-1] == [CHUNK] * (len(counts) - 1) and 0 < counts[-1] <= CHUNK
    return got


EVERY_ROW = ExportQuery(DATASET, tuple(DATASET.column_names), (), None)

CSV_OPTIONS = [
    {},
    {"header": False},
    {"header_style": "name", "bom": True},
    {"quoting": "all"},
    {"quoting": "all", "formula_guard": False},
    {"formula_guard": False},
    {"delimiter": ";"},
    {"delimiter": "\t", "quoting": "all"},
    {"delimiter": "|"},
    {"delimiter": "'"},
    {"delimiter": " "},
    {"encoding": "utf-8", "encoding_errors": "replace"},
]


@pytest.mark.parametrize("options", CSV_OPTIONS, ids=lambda options: repr(options))
def test_csv_from_the_server_is_the_renderers_csv(hostile_url, options):
    got = _assert_same_file(hostile_url, EVERY_ROW, "csv", options)
    assert (b'"\'=""1+1"""' in got) == options.get("formula_guard", True)


@pytest.mark.parametrize("timezone", TIMEZONES)
@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_timestamps_in_every_time_zone(hostile_url, format_name, timezone):
    got = _assert_same_file(hostile_url, EVERY_ROW, format_name, {}, timezone)
    assert b"T" in got


@pytest.mark.parametrize("decimals", ["string", "number"])
def test_jsonl_from_the_server_is_the_renderers_jsonl(hostile_url, decimals):
    got = _assert_same_file(hostile_url, EVERY_ROW, "jsonl", {"decimals": decimals})
    assert b"\\u0001\\u001f" in got and (b'"amount":"-9999.99"' in got) == (decimals == "string")


@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_filters_grants_search_and_sort_are_the_same_rows_in_the_same_order(hostile_url, format_name):
    """The predicate is the one SQL predicate the row path uses: filter tree, search, the granted tenants."""
    from export_pipelines.request.model import ExportRequest
    from export_pipelines.request.validation import plan_export

    request = ExportRequest(
        user="analyst",
        dataset="orders",
        format=format_name,
        search="a",
        where="quantity < 400 and (note is null or status != 'paid')",
        sort=["customer_name:desc", "discount_rate"],
        columns=["note", "order_id", "created_at"],
    )
    with source_connection(hostile_url) as connection:
        plan = plan_export(request, load_catalog(), connection, 10**9)
    assert plan.query.tenants == frozenset({"acme", "globex"}) and plan.visible_rows > CHUNK
    _assert_same_file(hostile_url, plan.query, format_name, {}, "Europe/Berlin", plan.output_columns)


@pytest.mark.parametrize(
    "options",
    [
        {"quoting": "minimal"},
        {"quoting": "none"},
        {"line_ending": "crlf"},
        {"encoding": "latin-1"},
        {"encoding": "cp1252"},
        {"encoding": "utf-16"},
        {"delimiter": "§"},
    ],
    ids=lambda options: repr(options),
)
def test_options_the_server_cannot_write_fall_back_to_the_renderer(options):
    renderer = renderer_class("csv")(None, _context("csv", options, "UTC"))
    assert renderer.server_text() is None
    assert renderer_class("csv")(None, _context("csv", {}, "UTC")).server_text() is not None


@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_display_text_falls_back_to_the_renderer(format_name):
    """``formatted: true`` writes each column's display text (number and date formats): rows are read."""
    context = dataclasses.replace(_context(format_name, {}, "UTC"), display=DisplayRules(formatted=True))
    assert renderer_class(format_name)(None, context).server_text() is None
    assert renderer_class(format_name)(None, _context(format_name, {}, "UTC")).server_text() is not None


def test_formats_without_a_server_form_say_so():
    assert renderer_class("json")(None, _context("json", {}, "UTC")).server_text() is None


def test_columns_not_of_the_catalogs_type_fall_back(hostile_url):
    """A real float, an unconstrained numeric or a naive timestamp would print differently: the rows are read."""
    text = renderer_class("csv")(None, _context("csv", {}, "UTC")).server_text()
    with source_connection(hostile_url) as connection:
        for name, sql_type in [("discount_rate", "real"), ("amount", "numeric"), ("created_at", "timestamp")]:
            connection.exec_driver_sql(f"CREATE TEMP TABLE odd_{name} AS SELECT * FROM orders WHERE order_id < 1000")
            connection.exec_driver_sql(f"ALTER TABLE odd_{name} ALTER {name} TYPE {sql_type}")
            odd = ExportQuery(_dataset(f"odd_{name}"), tuple(DATASET.column_names), (), None)
            assert server_text_chunks(connection, odd, text, CHUNK) is None, name
        assert server_text_chunks(connection, EVERY_ROW, text, CHUNK) is not None


def test_a_time_zone_the_server_does_not_know_falls_back_and_leaves_the_connection_usable(hostile_url):
    renderer = renderer_class("csv")(None, _context("csv", {}, "No/Such_Zone"))
    with source_connection(hostile_url) as connection:
        assert server_text_chunks(connection, EVERY_ROW, renderer.server_text(), CHUNK) is None
        assert connection.execute(sa.text("SELECT count(*) FROM orders")).scalar() > 500


def test_the_servers_settings_last_only_for_the_export(hostile_url):
    renderer = renderer_class("csv")(None, _context("csv", {}, "Asia/Kathmandu"))
    with source_connection(hostile_url) as connection:
        assert b"+05:45" in b"".join(b for b in server_text_chunks(connection, EVERY_ROW, renderer.server_text(), 50)
                                    if not isinstance(b, int))  # fmt: skip
    with source_connection(hostile_url) as connection:
        assert connection.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"


def test_float_text_for_every_kind_of_double(postgres_url):
    """Arrow's and Python's notation of doubles from the server, on the edges of each notation and on
    random bit patterns (subnormals, huge integers where the server's own text is not the shortest)."""
    rng = random.Random(7)
    values = [*HOSTILE_FLOATS, 1e-4, 9.999999999999999e-5, 1e-6, 9.99999999999e-7, 1e10, 9999999999.999998, 1e16,
              9999999999999998.0, 2.0**54, 2.0**63, 1e22, 2.2250738585072014e-308, 2.225073858507201e-308]  # fmt: skip
    values += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    values += [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 22) for _ in range(3000)]
    table = sa.table("doubles", sa.column("position", sa.Integer), sa.column("value", sa.Float))
    with source_connection(postgres_url) as connection:
        connection.exec_driver_sql("SET extra_float_digits = 1")
        connection.exec_driver_sql("CREATE TEMP TABLE doubles (position int, value float8)")
        connection.execute(table.insert(), [{"position": i, "value": v} for i, v in enumerate(values)])
        statement = sa.select(arrow_float_text(table.c.value), python_float_text(table.c.value))
        rows = connection.execute(statement.order_by(table.c.position)).all()
    by_arrow = pa.array(values).cast(pa.string()).to_pylist()
    by_json = [None if text == "null" else text for text in _json_values(pa.array(values), "string").to_pylist()]
    assert [row[0] for row in rows] == by_arrow
    assert [row[1] for row in rows] == by_json


def _dataset(table: str):
    return dataclasses.replace(DATASET, table=table)


def test_every_formula_trigger_sorts_before_the_guards_byte_bound():
    from export_pipelines.formats.csv import FORMULA_TRIGGERS
    from export_pipelines.formats.sql_text import _AFTER_TRIGGERS

    # The guard compares bytes first and calls ascii() only below the bound: no trigger may be above it.
    assert all(trigger.encode() < _AFTER_TRIGGERS.encode() for trigger in FORMULA_TRIGGERS)

"""Keyset pagination over real SQLite and PostgreSQL sources, checked against Python over all rows.

Every query is paged exactly as ``collect_chunks`` pages it (small chunks, the last row of each
chunk as the next cursor), and the keys it yields, in order, must equal a reference computed in
Python from every row read with plain SQLAlchemy. ``ne`` and ``not_in`` keep NULL rows: a row
with no value is "not equal" to any value (the documented choice in source/query.py).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.demo.seed import orders
from export_pipelines.source.engine import source_connection
from export_pipelines.source.fetch import keyset_chunks
from export_pipelines.source.query import Condition, ExportQuery

CHUNK = 37
DATASET = load_catalog().dataset("orders")


def assert_no_offset(statement: sa.Select, dialect) -> None:
    compiled = statement.compile(dialect=dialect)
    sql = compiled.string
    if dialect.name == "sqlite" and sql.endswith(" OFFSET ?"):
        # SQLAlchemy's SQLite compiler always writes LIMIT ? OFFSET ? with a constant 0: it skips nothing.
        assert compiled.params[compiled.positiontup[-1]] == 0
        sql = sql.removesuffix(" OFFSET ?")
    assert not re.search(r"\bOFFSET\b", sql, re.I), sql


def paginate(url: str, query: ExportQuery, size: int = CHUNK):
    """Every chunk of ``query`` through collect_chunks' own generator; also the visible count.

    The first chunk statement and one that continues after a (sort value, key) pair are checked
    for OFFSET (the PostgreSQL path runs them through COPY, past SQLAlchemy's events).
    """
    with source_connection(url) as connection:
        dialect = connection.dialect
        tables = list(keyset_chunks(connection, query, size))
        _, visible = connection.execute(query.count_statement(dialect.name)).one()
    first = tables[0].to_pylist()
    after = None
    if first:
        after = tuple(first[-1][column] for column, _ in query.order)
    for start in (None, after):
        assert_no_offset(query.chunk_statement(dialect.name, size, start), dialect)
    return tables, visible


MATCHES = {
    "eq": lambda v, x: v is not None and v == x,
    "ne": lambda v, x: v is None or v != x,
    "lt": lambda v, x: v is not None and v < x,
    "le": lambda v, x: v is not None and v <= x,
    "gt": lambda v, x: v is not None and v > x,
    "ge": lambda v, x: v is not None and v >= x,
    "in": lambda v, x: v in x,
    "not_in": lambda v, x: v is None or v not in x,
    "contains": lambda v, x: v is not None and x in v,
    "startswith": lambda v, x: v is not None and v.startswith(x),
    "between": lambda v, x: v is not None and x[0] <= v <= x[1],
    "is_null": lambda v, x: v is None,
    "not_null": lambda v, x: v is not None,
}


def expected_keys(rows: list[dict], query: ExportQuery) -> list[int]:
    """The reference: filter, tenant scope and order (NULLs last, ties by key ascending) in Python."""
    kept = [
        row
        for row in sorted(rows, key=lambda r: r["order_id"])
        if all(MATCHES[c.op](row[c.column], c.value) for c in query.conditions)
        and (query.tenants is None or row["tenant_id"] in query.tenants)
    ]
    column, descending = query.sort[0] if query.sort else ("order_id", False)
    present = sorted((r for r in kept if r[column] is not None), key=lambda r: r[column], reverse=descending)
    return [r["order_id"] for r in present + [r for r in kept if r[column] is None]]


def keys_of(tables) -> list[int]:
    return [key for table in tables for key in table.column("order_id").to_pylist()]


UTC_2024 = datetime(2024, 1, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
FILTERS = {
    "eq_text": Condition("status", "eq", "shipped"),
    "eq_decimal": Condition("amount", "eq", Decimal("1234.50")),
    "eq_timestamp_microseconds": Condition("created_at", "eq", datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=UTC)),
    "eq_boolean": Condition("is_paid", "eq", False),
    "ne_keeps_null": Condition("note", "ne", ""),
    "ne_date_keeps_null": Condition("shipped_on", "ne", date(2023, 2, 26)),
    "lt_decimal": Condition("amount", "lt", Decimal("20.00")),
    "le_date": Condition("shipped_on", "le", date(2024, 6, 30)),
    "gt_timestamp": Condition("created_at", "gt", datetime(2025, 6, 1, 12, tzinfo=UTC)),
    # SQLite stores naive UTC text: an aware value in another zone must be converted, not just stripped.
    "eq_timestamp_berlin": Condition("created_at", "eq", datetime(2024, 2, 29, 13, 34, 56, 789012, tzinfo=BERLIN)),
    "ge_integer": Condition("quantity", "ge", 10),
    "ge_float": Condition("discount_rate", "ge", 0.125),
    "in": Condition("tenant_id", "in", ("acme", "hooli")),
    "not_in_keeps_null": Condition("note", "not_in", ("", "Repeat customer")),
    "contains": Condition("customer_name", "contains", ", "),
    "contains_slashes": Condition("customer_name", "contains", "://"),
    "contains_percent": Condition("note", "contains", "5%"),
    "startswith": Condition("note", "startswith", "line one"),
    "between_float": Condition("discount_rate", "between", (0.1, 0.2)),
    "between_timestamp": Condition("created_at", "between", (UTC_2024, datetime(2024, 6, 30, tzinfo=UTC))),
    "is_null": Condition("shipped_on", "is_null"),
    "not_null": Condition("discount_rate", "not_null"),
}
# Unescaped, '_' and '%' would match these as wildcards; escaped, nothing matches.
WILDCARDS = {
    "contains_underscore": (Condition("note", "contains", "5_"), r"5."),
    "startswith_underscore": (Condition("note", "startswith", "line_one"), r"^line.one"),
    "startswith_percent": (Condition("customer_name", "startswith", "%"), r"."),
}
SORTS = {
    "shipped_on_asc": ("shipped_on", False),
    "shipped_on_desc": ("shipped_on", True),
    "created_at_desc": ("created_at", True),
    "key_desc": ("order_id", True),
    "discount_rate_desc": ("discount_rate", True),
    "amount_asc": ("amount", False),
}
SORT_FILTERS = {
    "all": (),
    "only_null_sort_values": (Condition("shipped_on", "is_null"),),
    "refunded_or_shipped": (Condition("status", "in", ("refunded", "shipped")),),
}


def check_pages(url: str, rows: list[dict], query: ExportQuery) -> list[int]:
    tables, visible = paginate(url, query)
    expected = expected_keys(rows, query)

    assert keys_of(tables) == expected
    assert [t.num_rows for t in tables] == [CHUNK] * (len(expected) // CHUNK) + [len(expected) % CHUNK]
    assert visible == len(expected), "count_statement agrees with what pagination returns"
    return expected


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_pages_to_the_reference(source, name):
    url, rows = source
    query = ExportQuery(DATASET, ("order_id", "note"), (FILTERS[name],), None)

    expected = check_pages(url, rows, query)

    assert 0 < len(expected) < len(rows), f"{name} must keep some rows and drop others to prove anything"


def test_negative_filters_keep_null_rows(source):
    url, rows = source
    for condition in (FILTERS["ne_keeps_null"], FILTERS["not_in_keeps_null"]):
        keys = set(keys_of(paginate(url, ExportQuery(DATASET, ("order_id",), (condition,), None))[0]))
        assert {r["order_id"] for r in rows if r["note"] is None} <= keys


@pytest.mark.parametrize("name", sorted(WILDCARDS))
def test_like_wildcards_in_values_are_escaped(source, name):
    url, rows = source
    condition, unescaped = WILDCARDS[name]
    query = ExportQuery(DATASET, ("order_id",), (condition,), None)

    assert any(re.search(unescaped, r[condition.column] or "", re.S) for r in rows), "a wildcard would match"
    assert check_pages(url, rows, query) == []


@pytest.mark.parametrize("filters", sorted(SORT_FILTERS))
@pytest.mark.parametrize("sort", sorted(SORTS))
def test_sorted_pagination_matches_the_reference(source, sort, filters):
    url, rows = source
    column, descending = SORTS[sort]
    query = ExportQuery(DATASET, ("order_id", "tenant_id"), SORT_FILTERS[filters], None, ((column, descending),))

    expected = check_pages(url, rows, query)

    assert len(expected) > CHUNK, "more than one chunk, so the cursor is exercised"


@pytest.mark.parametrize(("column", "descending"), [("customer_name", False), ("note", True)])
def test_text_sort_follows_the_database_collation(source, column, descending):
    """Text order is the database's (its collation), so the reference is a plain ORDER BY, not Python."""
    url, rows = source
    sort = orders.c[column].desc() if descending else orders.c[column].asc()
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        statement = sa.select(orders.c.order_id).order_by(sort.nulls_last(), orders.c.order_id)
        expected = connection.execute(statement).scalars().all()
    engine.dispose()

    tables, _ = paginate(url, ExportQuery(DATASET, ("order_id",), (), None, ((column, descending),)))

    assert keys_of(tables) == expected and len(expected) == len(rows)


def test_tenant_scope_and_sort_together(source):
    url, rows = source
    tenants = frozenset({"acme", "globex"})
    query = ExportQuery(DATASET, ("note",), (FILTERS["ne_keeps_null"],), tenants, (("created_at", True),))

    keys = check_pages(url, rows, query)

    assert {r["tenant_id"] for r in rows if r["order_id"] in set(keys)} == tenants

"""Every operator inside nested groups, from request to rows, on SQLite and PostgreSQL (COPY), against Python.

Requests go through ``check_request`` (tree, catalog, typed values) and the pages through
``keyset_chunks`` exactly as ``collect_chunks`` reads them; the keys, in order, must equal the
reference of ``reference.py`` over every row.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request
from export_pipelines.source.engine import source_connection
from export_pipelines.source.query import ExportQuery
from export_pipelines_tests.query.reference import expected_keys, keys_of, matches, paginate

CATALOG = load_catalog()
CHUNK = 37
# The seeded orders run from 2023 to 2025: six months before this moment hold some of them.
RELATIVE_TO = "2025-03-15T10:00:00+01:00"


def query_for(url: str | None = None, tenants=None, sort=None, **fields) -> ExportQuery:
    request = ExportRequest(user="admin", dataset="orders", relative_to=RELATIVE_TO, timezone="Europe/Berlin",
                            sort=sort, **fields)  # fmt: skip
    checked = check_request(request, CATALOG)
    return ExportQuery(checked.dataset, ("order_id", "status", "note"), checked.conditions, tenants, checked.sort)


def check_pages(url: str, rows: list[dict], query: ExportQuery) -> list[int]:
    tables, visible = paginate(url, query, CHUNK)
    expected = expected_keys(rows, query)

    assert keys_of(tables) == expected
    assert visible == len(expected), "the count uses the same predicate"
    return expected


def c(column, op, value=None) -> dict:
    return {"column": column, "op": op, "value": value} if value is not None else {"column": column, "op": op}


OPERATORS = {
    "eq": c("status", "eq", "paid"),
    "eq_boolean": c("is_paid", "eq", False),
    "ne_keeps_null": c("note", "ne", ""),
    "lt": c("amount", "lt", "20.00"),
    "le_date": c("shipped_on", "le", "2024-06-30"),
    "gt_timestamp": c("created_at", "gt", "2025-01-01T12:00:00"),
    "ge": c("quantity", "ge", 10),
    "in": c("tenant_id", "in", ["acme", "hooli"]),
    "not_in_keeps_null": c("note", "not_in", ["", "Repeat customer"]),
    "contains_quote": c("customer_name", "contains", "O'C"),
    "contains_double_quote": c("note", "contains", '"urgent"'),
    "contains_percent": c("note", "contains", "5%"),
    "startswith": c("note", "startswith", "line one"),
    "between": c("discount_rate", "between", [0.1, 0.2]),
    "is_null": c("shipped_on", "is_null"),
    "not_null": c("discount_rate", "not_null"),
    "within": c("created_at", "within", "last 6 months"),
}
SHAPES = {
    "any": lambda x: {"any": [x, c("quantity", "eq", 1)]},
    "not": lambda x: {"not": x},
    "nested": lambda x: {"all": [{"not": {"any": [x, c("status", "eq", "cancelled")]}}, c("amount", "gt", 10)]},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_each_operator_in_each_group(source, operator, shape):
    url, rows = source
    query = query_for(filters=SHAPES[shape](OPERATORS[operator]))

    expected = check_pages(url, rows, query)

    assert 0 < len(expected) < len(rows), f"{operator} in {shape} must keep some rows and drop others"


def test_the_condition_alone_is_not_trivial(source):
    """Each operator's condition keeps some rows and drops others by itself, so the groups above prove something."""
    url, rows = source
    for name, condition in OPERATORS.items():
        query = query_for(filters=[condition])
        kept = sum(matches(query.conditions[0], row) for row in rows)
        assert 0 < kept < len(rows), name


def test_not_of_a_negative_filter_keeps_only_the_complement(source):
    """not (note ne '') is exactly note = '': the NULL notes that ne keeps are not in it."""
    url, rows = source
    keys = check_pages(url, rows, query_for(filters={"not": c("note", "ne", "")}))

    assert keys == [r["order_id"] for r in rows if r["note"] == ""]


def test_not_keeps_rows_whose_column_is_null(source):
    """Two-valued not: not (shipped_on le X) holds where shipped_on is NULL, unlike SQL's NOT."""
    url, rows = source
    keys = set(check_pages(url, rows, query_for(filters={"not": c("shipped_on", "le", "2024-06-30")})))

    assert {r["order_id"] for r in rows if r["shipped_on"] is None} <= keys


def test_where_text_and_filters_tree_give_the_same_rows(source):
    url, rows = source
    where = (
        "status in (paid, refunded) and (amount > 100 or customer_name startswith \"A\") "
        "and not (note is null or note contains '5%')"
    )
    tree = {"all": [
        c("status", "in", ["paid", "refunded"]),
        {"any": [c("amount", "gt", 100), c("customer_name", "startswith", "A")]},
        {"not": {"any": [c("note", "is_null"), c("note", "contains", "5%")]}},
    ]}  # fmt: skip

    from_text = check_pages(url, rows, query_for(where=where))

    assert from_text == check_pages(url, rows, query_for(filters=tree)) and from_text


def test_where_and_filters_together_must_both_hold(source):
    url, rows = source
    both = check_pages(url, rows, query_for(where="status = paid", filters=[c("quantity", "ge", 10)]))

    assert both == [r["order_id"] for r in rows if r["status"] == "paid" and r["quantity"] >= 10] and both


def test_an_empty_all_keeps_every_row_and_a_group_inside_a_list_is_one_condition(source):
    url, rows = source
    assert len(check_pages(url, rows, query_for(filters={"all": []}))) == len(rows)
    keys = check_pages(url, rows, query_for(filters=[c("status", "eq", "paid"), {"any": [c("quantity", "eq", 1)]}]))
    assert keys == [r["order_id"] for r in rows if r["status"] == "paid" and r["quantity"] == 1]


HOSTILE = ["'; DROP TABLE orders; --", "%", "_", "\\", "\\%", "a'b\"c", "%' OR '1'='1", "ünïcödé ✓ 😀 注文"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_bound_not_spliced(source, value):
    url, rows = source
    for op in ("eq", "contains", "startswith"):
        query = query_for(filters={"any": [c("note", op, value), {"not": c("customer_name", "ne", value)}]})
        check_pages(url, rows, query)
        with source_connection(url) as connection:
            statement = query.chunk_statement(connection.dialect.name, CHUNK, None)
            sql = str(statement.compile(dialect=connection.dialect))
        assert value not in sql or value in ("%", "_"), "the value is a parameter, not SQL text"
    with source_connection(url) as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == len(rows)


def test_tenant_scope_applies_to_every_group(source):
    url, rows = source
    tenants = frozenset({"acme"})
    query = query_for(tenants=tenants, filters={"any": [c("tenant_id", "eq", "hooli"), c("status", "eq", "paid")]})

    keys = check_pages(url, rows, query)

    assert keys and {r["tenant_id"] for r in rows if r["order_id"] in set(keys)} == {"acme"}

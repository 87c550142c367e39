"""Sorting by several columns: the keyset walk over all of them plus the key, across chunk boundaries
that fall inside runs of equal values and of NULLs, on SQLite and PostgreSQL (COPY)."""

from __future__ import annotations

import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request
from export_pipelines.source.query import ExportQuery
from export_pipelines_tests.query.reference import expected_keys, keys_of, paginate

CATALOG = load_catalog()
SORTS = {
    "status_amount_desc": ["status", "amount:desc"],
    "shipped_desc_discount": ["shipped_on:desc", "discount_rate"],  # NULLs in both
    "paid_shipped_currency_desc": ["is_paid", "shipped_on", "currency:desc"],
    "discount_desc_quantity_created_desc": ["discount_rate:desc", "quantity", "created_at:desc"],
    "currency_then_key_desc": ["currency", "order_id:desc"],  # the key ends the order
    "one_string": "tenant_id, status:desc",
    # A boolean sort column failed past the first chunk before (SQLAlchemy refuses `is_paid > true`).
    "boolean_alone": "is_paid:desc",
}


def query_for(sort, **fields) -> ExportQuery:
    checked = check_request(ExportRequest(user="admin", dataset="orders", sort=sort, **fields), CATALOG)
    return ExportQuery(checked.dataset, ("order_id",), checked.conditions, None, checked.sort)


@pytest.mark.parametrize("size", [7, 37])
@pytest.mark.parametrize("sort", sorted(SORTS))
def test_pages_follow_the_reference_order(source, sort, size):
    url, rows = source
    query = query_for(SORTS[sort])

    tables, visible = paginate(url, query, size)

    expected = expected_keys(rows, query)
    assert keys_of(tables) == expected and visible == len(rows)
    assert [t.num_rows for t in tables][:-1] == [size] * (len(tables) - 1)


def test_boundaries_inside_runs_of_equal_values_and_of_nulls(source):
    """Chunks of 5 over (shipped_on desc, discount_rate): some chunk ends inside a run of equal first values,
    and some inside the NULLs of both columns; the walk still yields every row once, in order."""
    url, rows = source
    query = query_for(["shipped_on:desc", "discount_rate"])
    by_key = {r["order_id"]: r for r in rows}

    tables, _ = paginate(url, query, 5)

    full = [t for t in tables if t.num_rows]
    ends = [(t.column("order_id")[-1].as_py(), n.column("order_id")[0].as_py()) for t, n in zip(full, full[1:])]
    pairs = [(by_key[a], by_key[b]) for a, b in ends]
    assert any(a["shipped_on"] == b["shipped_on"] is not None for a, b in pairs), "a boundary inside equal values"
    assert any(a["shipped_on"] is None and b["shipped_on"] is None and a["discount_rate"] is None
               and b["discount_rate"] is None for a, b in pairs), "a boundary inside the NULLs of both"  # fmt: skip
    assert keys_of(tables) == expected_keys(rows, query)


def test_one_row_per_chunk(source):
    url, rows = source
    query = query_for(["status", "discount_rate:desc"], where="tenant_id = acme")

    tables, visible = paginate(url, query, 1)

    assert keys_of(tables) == expected_keys(rows, query)
    # One row a chunk; the keyset walk (SQLite) ends with an empty page, PostgreSQL's one COPY does not.
    sizes = [table.num_rows for table in tables]
    assert sizes in ([1] * visible, [1] * visible + [0]), sizes


def test_todays_single_sort_string_is_unchanged():
    assert query_for("amount:desc").order == (("amount", True), ("order_id", False))
    assert query_for("order_id:desc").order == (("order_id", True),)
    assert query_for(None).order == (("order_id", False),)


def test_columns_after_the_key_are_dropped():
    assert query_for(["status", "order_id", "amount"]).sort == (("status", False), ("order_id", False))


@pytest.mark.parametrize(
    ("sort", "field", "words"),
    [
        (["status", "price"], "sort[1]", ["'price'", "amount"]),
        (["status", "amount:up"], "sort[1]", ["'up'", "asc, desc"]),
        (["status", "status:desc"], "sort", ["twice"]),
        (["status", "amount", "currency", "quantity", "note", "tenant_id"], "sort", ["limit of 5", "EXPORT_MAX_SORT"]),
    ],
)
def test_bad_sorts_are_refused_naming_the_item(sort, field, words):
    with pytest.raises(ExportRequestError) as refused:
        query_for(sort)

    assert refused.value.field == field
    for word in words:
        assert word in str(refused.value)


def test_sort_of_another_type_is_refused_by_the_schema():
    with pytest.raises(ValueError, match="column\\[:desc\\]"):
        ExportRequest(user="admin", dataset="orders", sort={"amount": "desc"})

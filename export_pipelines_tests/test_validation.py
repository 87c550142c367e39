"""plan_export against real seeded sources: every rejection names its field, counts match plain SQL.

Field checks run against SQLite; grants, counts and the row cap run against SQLite and PostgreSQL,
with every expected count computed independently, in plain SQL or Python over all rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.demo.seed import orders
from export_pipelines.errors import ExportRequestError, PermissionDenied, RowLimitExceeded
from export_pipelines.request.model import FILTER_OPS, ExportRequest
from export_pipelines.request.validation import plan_export
from export_pipelines.source.engine import source_connection
from export_pipelines_tests.seeded_sources import SEEDED_ROWS as ROWS

CATALOG = load_catalog()
ORDER_COLUMNS = CATALOG.dataset("orders").column_names


@pytest.fixture(params=["sqlite", "postgres"])
def source_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def plan(url: str, max_rows: int = 1_000_000, **fields):
    fields.setdefault("dataset", "orders")
    with source_connection(url) as connection:
        return plan_export(ExportRequest(**fields), CATALOG, connection, max_rows)


def plain_count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


ANALYST_TENANTS = "SELECT tenant_id FROM export_permissions WHERE user_name = 'analyst' AND dataset IN ('orders', '*')"

BAD_REQUESTS = [
    ({"dataset": "invoices"}, "dataset", ["'invoices'", "customers, orders"]),
    ({"columns": ["order_id", "price"]}, "columns[1]", ["'price'", *ORDER_COLUMNS]),
    ({"columns": ["order_id", "order_id"]}, "columns", ["twice"]),
    ({"filters": [{"column": "price", "op": "eq", "value": 1}]}, "filters[0].column", ["'price'", "amount"]),
    ({"filters": [{"column": "quantity", "op": "eq", "value": "many"}]}, "filters[0].value", ["a whole number"]),
    ({"filters": [{"column": "quantity", "op": "eq", "value": 1.5}]}, "filters[0].value", ["a whole number"]),
    ({"filters": [{"column": "quantity", "op": "eq", "value": True}]}, "filters[0].value", ["a whole number"]),
    # Beyond BIGINT: the drivers would fail at query time with an OverflowError or DataError.
    ({"filters": [{"column": "quantity", "op": "lt", "value": str(2**63)}]}, "filters[0].value", ["a whole number"]),
    ({"filters": [{"column": "discount_rate", "op": "lt", "value": "nan"}]}, "filters[0].value", ["a number"]),
    ({"filters": [{"column": "discount_rate", "op": "eq", "value": "inf"}]}, "filters[0].value", ["a number"]),
    ({"filters": [{"column": "amount", "op": "gt", "value": "12,50"}]}, "filters[0].value", ["12.50"]),
    ({"filters": [{"column": "amount", "op": "gt", "value": "NaN"}]}, "filters[0].value", ["decimal"]),
    ({"filters": [{"column": "shipped_on", "op": "lt", "value": "31/05/2024"}]}, "filters[0].value", ["2024-05-31"]),
    ({"filters": [{"column": "created_at", "op": "ge", "value": "yesterday"}]}, "filters[0].value", ["ISO timestamp"]),
    ({"filters": [{"column": "is_paid", "op": "eq", "value": "maybe"}]}, "filters[0].value", ["true or false"]),
    ({"filters": [{"column": "amount", "op": "between", "value": [10]}]}, "filters[0].value", ["[low, high]"]),
    ({"filters": [{"column": "amount", "op": "between", "value": "10"}]}, "filters[0].value", ["[low, high]"]),
    ({"filters": [{"column": "tenant_id", "op": "in", "value": []}]}, "filters[0].value", ["a list"]),
    ({"filters": [{"column": "tenant_id", "op": "eq"}]}, "filters[0].value", ["is_null"]),
    ({"filters": [{"column": "note", "op": "is_null", "value": "x"}]}, "filters[0].value", ["leave value empty"]),
    ({"filters": [{"column": "amount", "op": "contains", "value": "5"}]}, "filters[0].op", ["text column", "eq"]),
    # filters may be a tree (query.tree), so the schema holds it as data: the operator is checked here.
    ({"filters": [{"column": "amount", "op": "like", "value": 1}]}, "filters[0].op", [*FILTER_OPS]),
    ({"sort": "price"}, "sort", ["'price'", *ORDER_COLUMNS]),
    ({"sort": "amount:sideways"}, "sort", ["'sideways'", "asc, desc"]),
    ({"format_options": {"colour": "red"}}, "format_options.colour", ["header", "delimiter"]),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", ["Europe/Berlin"]),
    ({"timezone": "../../etc/passwd"}, "timezone", ["IANA"]),
    ({"chunk_size": 0}, "chunk_size", ["1 to 1,000,000"]),
    ({"recipients": ["ops@example.com", "not an email"]}, "recipients[1]", ["'not an email'"]),
    ({"user": "ana/lyst"}, "user", ["'ana/lyst'", "letters, digits"]),
    ({"user": ""}, "user", ["letters, digits"]),
]


@pytest.mark.parametrize(("fields", "field", "mentions"), BAD_REQUESTS, ids=[c[1] for c in BAD_REQUESTS])
def test_bad_field_is_named_with_what_is_allowed(sqlite_url, fields, field, mentions):
    fields = {"user": "admin", **fields}

    with pytest.raises(ExportRequestError) as refused:
        plan(sqlite_url, **fields)

    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    for mention in mentions:
        assert mention in str(refused.value)


# Choices are Literal types: the request's schema refuses a value outside the list, naming the list,
# before any catalog check (the launchpad flags it as the user types).
CHOICES = [
    ({"format": "xml"}, ["'csv'", "'json'", "'jsonl'", "'xlsx'"]),
    ({"compression": "rar"}, ["'none'", "'gzip'", "'zip'", "'auto'"]),
]


@pytest.mark.parametrize(("fields", "mentions"), CHOICES, ids=["format", "compression"])
def test_a_choice_outside_its_list_is_refused_by_the_schema(fields, mentions):
    with pytest.raises(ValidationError) as refused:
        ExportRequest(user="admin", dataset="orders", **fields)

    for mention in mentions:
        assert mention in str(refused.value)


@pytest.mark.parametrize("user", ["auditor", "nobody"])
def test_user_without_grants_is_denied(source_url, user):
    with pytest.raises(PermissionDenied, match=f"user '{user}' has no grant on dataset 'orders'"):
        plan(source_url, user=user)


def test_analyst_skips_exactly_the_rows_of_tenants_not_granted(source_url):
    result = plan(source_url, user="analyst", filters=[{"column": "amount", "op": "gt", "value": "50"}])

    hidden = plain_count(
        source_url, f"SELECT count(*) FROM orders WHERE amount > 50 AND tenant_id NOT IN ({ANALYST_TENANTS})"
    )
    shown = plain_count(
        source_url, f"SELECT count(*) FROM orders WHERE amount > 50 AND tenant_id IN ({ANALYST_TENANTS})"
    )
    assert hidden > 0 and shown > 0, "the seed must give the analyst a partial view"
    assert result.skipped_rows == hidden
    assert result.visible_rows == shown and result.matching_rows == hidden + shown
    assert result.query.tenants == frozenset({"acme", "globex"})


def test_admin_sees_everything(source_url):
    result = plan(source_url, user="admin", compression="gzip", columns=["note", "order_id"])

    assert result.skipped_rows == 0
    assert result.matching_rows == result.visible_rows == plain_count(source_url, "SELECT count(*) FROM orders")
    assert result.query.tenants is None
    assert result.compression == "gzip"
    assert [c.name for c in result.output_columns] == ["note", "order_id"]
    assert result.file_extension == "csv.gz"


def test_naive_timestamp_filters_are_read_in_the_request_time_zone(source_url):
    start = "2024-03-31T03:00:00"  # Europe/Berlin local time, just after spring-forward: 01:00 UTC
    result = plan(
        source_url, user="admin", timezone="Europe/Berlin",
        filters=[{"column": "created_at", "op": "ge", "value": start}],
    )  # fmt: skip

    instant = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
    engine = sa.create_engine(source_url)
    with engine.connect() as connection:
        created = connection.execute(sa.select(orders.c.created_at)).scalars().all()
    engine.dispose()
    expected = sum(1 for c in created if (c if c.tzinfo else c.replace(tzinfo=UTC)) >= instant)
    assert 0 < expected < ROWS
    assert result.matching_rows == expected


def test_extreme_but_valid_values_are_accepted(source_url):
    filters = [
        {"column": "quantity", "op": "between", "value": [-(2**63), 2**63 - 1]},
        {"column": "discount_rate", "op": "lt", "value": "1e308"},
    ]

    result = plan(source_url, user="admin", filters=filters)

    assert result.matching_rows == plain_count(
        source_url, "SELECT count(*) FROM orders WHERE discount_rate IS NOT NULL"
    )


def test_row_cap_counts_visible_rows_only(source_url):
    visible = plan(source_url, user="analyst").visible_rows

    assert plan(source_url, max_rows=visible, user="analyst").visible_rows == visible
    with pytest.raises(RowLimitExceeded, match=f"over the limit of {visible - 1:,}") as refused:
        plan(source_url, max_rows=visible - 1, user="analyst")
    assert f"{visible:,} rows" in str(refused.value) and "EXPORT_MAX_ROWS" in str(refused.value)


def test_row_cap_refuses_an_export_over_the_limit(source_url):
    with pytest.raises(RowLimitExceeded, match="over the limit of 100;"):
        plan(source_url, max_rows=100, user="admin")

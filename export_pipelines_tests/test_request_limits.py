"""Request size limits and NUL bytes: refused at the gate, naming the field, the limit and what is allowed.

Run against real seeded SQLite and PostgreSQL sources: PostgreSQL is the database that would
otherwise fail on a NUL byte, and the limits are read from the environment when validating.
"""

from __future__ import annotations

import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError, SettingsError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import plan_export
from export_pipelines.source.engine import source_connection

CATALOG = load_catalog()
ORDER_COLUMNS = CATALOG.dataset("orders").column_names


@pytest.fixture(params=["sqlite", "postgres"])
def source_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def plan(url: str, **fields):
    request = ExportRequest(**{"user": "admin", "dataset": "orders", **fields})
    with source_connection(url) as connection:
        return plan_export(request, CATALOG, connection, 1_000_000)


def refusal(url: str, **fields) -> ExportRequestError:
    with pytest.raises(ExportRequestError) as refused:
        plan(url, **fields)
    assert str(refused.value).startswith(f"{refused.value.field}: ")
    return refused.value


def amount_filters(count: int) -> list[dict]:
    return [{"column": "amount", "op": "ge", "value": i} for i in range(count)]


def test_at_most_50_filters_by_default(sqlite_url, monkeypatch):
    monkeypatch.delenv("EXPORT_MAX_FILTERS", raising=False)
    plan(sqlite_url, filters=amount_filters(50))

    error = refusal(sqlite_url, filters=amount_filters(51))

    assert error.field == "filters"
    assert "51 filters is over the limit of 50" in error.problem
    assert "at most 50 filters" in error.allowed and "EXPORT_MAX_FILTERS" in error.allowed


def test_filter_limit_is_read_when_validating(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_FILTERS", "2")

    assert refusal(sqlite_url, filters=amount_filters(3)).field == "filters"
    monkeypatch.setenv("EXPORT_MAX_FILTERS", "-1")
    with pytest.raises(SettingsError, match="EXPORT_MAX_FILTERS"):
        plan(sqlite_url)


@pytest.mark.parametrize("op", ["in", "not_in"])
def test_at_most_1000_values_per_in_list_by_default(sqlite_url, monkeypatch, op):
    monkeypatch.delenv("EXPORT_MAX_IN_VALUES", raising=False)
    plan(sqlite_url, filters=[{"column": "order_id", "op": op, "value": list(range(1000))}])

    error = refusal(
        sqlite_url,
        filters=[
            {"column": "amount", "op": "ge", "value": 0},
            {"column": "order_id", "op": op, "value": list(range(1001))},
        ],
    )

    assert error.field == "filters[1].value"
    assert "1,001 values is over the limit of 1,000" in error.problem
    assert "EXPORT_MAX_IN_VALUES" in error.allowed


def test_in_value_limit_counts_comma_separated_text_too(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_IN_VALUES", "3")

    error = refusal(sqlite_url, filters=[{"column": "tenant_id", "op": "in", "value": "a,b,c,d"}])

    assert error.field == "filters[0].value" and "4 values is over the limit of 3" in error.problem


def test_title_length_is_limited(sqlite_url):
    plan(sqlite_url, title="t" * 200)

    error = refusal(sqlite_url, title="t" * 201)

    assert error.field == "title"
    assert "201 characters" in error.problem and "at most 200 characters" in error.allowed


def test_columns_are_limited_to_the_catalog_count_by_default(sqlite_url, monkeypatch):
    monkeypatch.delenv("EXPORT_MAX_COLUMNS", raising=False)
    too_many = [*ORDER_COLUMNS, "order_id"]

    error = refusal(sqlite_url, columns=too_many)

    assert error.field == "columns"
    assert f"{len(too_many)} columns is over the limit of {len(ORDER_COLUMNS)}" in error.problem
    assert "EXPORT_MAX_COLUMNS" in error.allowed


def test_column_limit_is_read_when_validating_and_applies_to_all_columns(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_COLUMNS", "2")

    plan(sqlite_url, columns=["order_id", "amount"])
    assert refusal(sqlite_url, columns=["order_id", "amount", "status"]).field == "columns"
    assert refusal(sqlite_url).field == "columns"  # no list means every catalog column
    monkeypatch.setenv("EXPORT_MAX_COLUMNS", "501")
    with pytest.raises(SettingsError, match="EXPORT_MAX_COLUMNS=501 is over the ceiling of 500"):
        plan(sqlite_url)


@pytest.mark.parametrize(
    "spec",
    [
        {"column": "note", "op": "eq", "value": "a\x00b"},
        {"column": "note", "op": "contains", "value": "\x00"},
        {"column": "tenant_id", "op": "in", "value": ["acme", "glo\x00bex"]},
        {"column": "tenant_id", "op": "not_in", "value": "acme,glo\x00bex"},
        {"column": "customer_name", "op": "between", "value": ["a", "z\x00"]},
        {"column": "shipped_on", "op": "ge", "value": "2024-01-01\x00"},
    ],
)
def test_a_nul_byte_in_a_filter_value_is_a_bad_request_not_a_database_error(source_url, spec):
    error = refusal(source_url, filters=[{"column": "amount", "op": "ge", "value": 0}, spec])

    assert error.field == "filters[1].value"
    assert "NUL" in error.problem


@pytest.mark.parametrize(("fields", "where"), [
    ({"filters": [{"column": "status", "op": "eq", "value": "x" * (5 << 20)}]}, "filters[0].value"),
    ({"filters": [{"column": "status", "op": "in", "value": ["paid", "é" * 3000]}]}, "filters[0].value[1]"),
    ({"sort": "amount" + " " * 5000}, "sort"),
    ({"timezone": "Europe/" + "x" * 5000}, "timezone"),
    ({"title": "t" * 5000}, "title"),
])  # fmt: skip
def test_every_string_of_a_request_has_a_byte_cap(sqlite_url, monkeypatch, fields, where):
    monkeypatch.delenv("EXPORT_MAX_STRING_BYTES", raising=False)

    error = refusal(sqlite_url, **fields)

    assert error.field == where and "bytes" in error.problem and "is over the limit of 4,096 bytes" in error.problem
    assert "EXPORT_MAX_STRING_BYTES" in error.allowed


def test_the_whole_request_has_a_byte_cap(sqlite_url, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_REQUEST_BYTES", "20000")
    values = [f"customer-{i:05}@example.com" for i in range(900)]  # each small, 900 of them: ~27 kB

    error = refusal(sqlite_url, filters=[{"column": "status", "op": "in", "value": values}])

    assert error.field == "request" and "over the limit of 20,000 bytes" in error.problem
    assert "EXPORT_MAX_REQUEST_BYTES" in error.allowed
    monkeypatch.setenv("EXPORT_MAX_REQUEST_BYTES", "0")
    with pytest.raises(SettingsError, match="EXPORT_MAX_REQUEST_BYTES"):
        plan(sqlite_url)

"""Search: the same rows on SQLite and PostgreSQL for the same data, any letter case, literal wildcards;
full text on PostgreSQL where the catalog asks for it, and the index that serves it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from export_pipelines.datasets.catalog import load_catalog, parse_catalog
from export_pipelines.errors import CatalogError, ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request
from export_pipelines.source.engine import source_connection
from export_pipelines.source.query import ExportQuery
from export_pipelines_tests.query.reference import expected_keys, keys_of, paginate

CATALOG = load_catalog()
CHUNK = 37


def query_for(catalog=CATALOG, **fields) -> ExportQuery:
    checked = check_request(ExportRequest(user="admin", dataset="orders", **fields), catalog)
    return ExportQuery(checked.dataset, ("order_id",), checked.conditions, None, checked.sort)


def rows_of(url: str) -> list[dict]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.text("SELECT * FROM orders ORDER BY order_id"))]
    engine.dispose()
    return rows


# Mixed case, letters outside ASCII in both cases, and the LIKE wildcards and escape as plain text.
SEARCHES = ["gmbh", "GmbH", "o'connor", "ÜNÏCÖDÉ", "ünï", "ångström", "ZOË ÅNGSTRÖM", "5%", "5_", "%", "_", "/", "\\",
            "line one\nline", '"urgent"', "注文", "Repeat", "zzz no such text"]  # fmt: skip


@pytest.mark.parametrize("text", SEARCHES)
def test_the_same_rows_on_sqlite_and_postgresql(sqlite_url, postgres_url, text):
    query = query_for(search=text)
    rows = rows_of(sqlite_url)

    on_sqlite = keys_of(paginate(sqlite_url, query, CHUNK)[0])
    on_postgres = keys_of(paginate(postgres_url, query, CHUNK)[0])

    assert on_sqlite == on_postgres == expected_keys(rows, query)
    if text == "zzz no such text":
        assert on_sqlite == []


def test_searches_that_must_find_rows_find_some(sqlite_url):
    rows = rows_of(sqlite_url)
    for text in ("gmbh", "ÜNÏCÖDÉ", "ZOË ÅNGSTRÖM", "5%", "Repeat"):
        assert expected_keys(rows, query_for(search=text)), f"{text!r} matches nothing: the test proves nothing"


def test_wildcards_are_literal(source):
    url, rows = source
    keys = keys_of(paginate(url, query_for(search="5_"), CHUNK)[0])
    percent = keys_of(paginate(url, query_for(search="%"), CHUNK)[0])

    assert keys == [] and any("5%" in (r["note"] or "") for r in rows), "5_ would match '5%' as a wildcard"
    assert percent == [r["order_id"] for r in rows if "%" in (r["note"] or "") + (r["customer_name"] or "")]


def test_search_with_filters_and_where_must_all_hold(source):
    url, rows = source
    not_one = {"not": {"column": "quantity", "op": "eq", "value": 1}}
    query = query_for(search="gmbh", where="status = paid", filters=not_one)

    keys = keys_of(paginate(url, query, CHUNK)[0])

    assert keys == [r["order_id"] for r in rows if "gmbh" in r["customer_name"].lower()
                    and r["status"] == "paid" and r["quantity"] != 1] and keys  # fmt: skip


@pytest.mark.parametrize(
    ("search", "words"),
    [("   ", ["blank"]), ("a\x00b", ["NUL"]), ("x" * 1001, ["too long", "EXPORT_MAX_VALUE_LENGTH"])],
)
def test_bad_search_text_is_refused(search, words):
    with pytest.raises(ExportRequestError) as refused:
        query_for(search=search)

    assert refused.value.field == "search"
    for word in words:
        assert word in str(refused.value)


def orders_document(**changes) -> dict:
    """A small catalog document of the orders table, with ``changes`` to the dataset."""
    dataset = {"table": "orders", "key": "order_id", "tenant_column": "tenant_id", "columns": {
        "order_id": {"type": "integer"}, "tenant_id": {"type": "string"}, "note": {"type": "string"},
    }}  # fmt: skip
    return {"datasets": {"orders": {**dataset, **changes}}}


def test_a_dataset_without_searchable_columns_says_so():
    with pytest.raises(ExportRequestError, match="no searchable columns") as refused:
        query_for(parse_catalog(orders_document()), search="x")
    assert refused.value.field == "search"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"fulltext": "english; drop table x"}, ["not a text search configuration"]),
        ({"fulltext": "english"}, ["mark the columns it searches searchable"]),
        ({"columns": {"order_id": {"type": "integer", "searchable": True}, "tenant_id": {"type": "string"}}},
         ["only a string column may be searchable"]),
    ],
)  # fmt: skip
def test_the_catalog_refuses_a_bad_search_setting(change, words):
    with pytest.raises(CatalogError) as refused:
        parse_catalog(orders_document(**change))
    for word in words:
        assert word in str(refused.value)


# The packaged catalog with full text on orders (its searchable columns: customer_name, note).
FULLTEXT = replace(CATALOG, datasets={
    **CATALOG.datasets, "orders": replace(CATALOG.dataset("orders"), fulltext="english"),
})


def test_full_text_on_postgresql_matches_words_and_stems(postgres_url):
    rows = rows_of(postgres_url)
    deliveries = keys_of(paginate(postgres_url, query_for(FULLTEXT, search="deliveries"), CHUNK)[0])
    phrase = keys_of(paginate(postgres_url, query_for(FULLTEXT, search='"gift wrap" -repeat'), CHUNK)[0])

    # "deliveries" is no substring of any note, but shares the stem of "delivery".
    assert deliveries == [r["order_id"] for r in rows if "delivery" in (r["note"] or "").lower()] and deliveries
    assert phrase == [r["order_id"] for r in rows if (r["note"] or "").startswith("Gift wrap")] and phrase


def test_full_text_falls_back_to_the_substring_match_on_sqlite(sqlite_url):
    query = query_for(FULLTEXT, search="Deliver")

    assert keys_of(paginate(sqlite_url, query, CHUNK)[0]) == expected_keys(rows_of(sqlite_url), query)


def test_the_readme_index_serves_the_full_text_search(postgres_url):
    """The expression index of the README matches the predicate's expression: the planner can use it."""
    query = query_for(FULLTEXT, search="gift")
    index = (
        "CREATE INDEX orders_search ON orders USING gin "
        "(to_tsvector('english'::regconfig, coalesce(customer_name, '') || ' ' || coalesce(note, '')))"
    )
    with source_connection(postgres_url) as connection:
        connection.execute(sa.text(index))
        try:
            connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
            statement = query.count_statement("postgresql").compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = "\n".join(connection.execute(sa.text(f"EXPLAIN {statement}")).scalars())
        finally:
            connection.rollback()
    assert "orders_search" in plan, plan

"""The demo database: shaped like the catalog, full of hard values, repeatable, the same on both dialects.

Everything here seeds a real database and reads it back through SQLAlchemy, because that is what
the exports do: a value that does not survive the round trip would break every format at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from export_pipelines.datasets.catalog import CATALOG_PATH_ENV, load_catalog
from export_pipelines.demo.seed import (
    ALL,
    DEMO_MARKER_TABLE,
    DEMO_TABLES,
    NotADemoDatabase,
    SeedSummary,
    customers,
    default_source_url,
    export_permissions,
    export_users,
    metadata,
    orders,
    seed_demo,
)
from export_pipelines.demo.values import STATUSES, TENANTS

ROWS = 2_000
CATALOG_TYPES = {
    "integer": sa.BigInteger,
    "float": sa.Float,
    "decimal": sa.Numeric,
    "string": sa.Text,
    "boolean": sa.Boolean,
    "date": sa.Date,
    "timestamp": sa.DateTime,
}
NON_ASCII_NAMES = {"Zoë Ångström", "José Núñez", "Łukasz Żółć", "李小龙", "محمد", "Ærøskøbing AS"}
FORMULA_STARTS = ("=", "+", "-", "@")


def read_table(url: str, table: sa.Table) -> list[dict]:
    """Every row of ``table``, in primary key order, as dictionaries."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.select(table).order_by(*table.primary_key.columns)
            return [dict(row._mapping) for row in connection.execute(query)]
    finally:
        engine.dispose()


def as_utc(row: dict) -> dict:
    """SQLite gives back naive UTC, PostgreSQL aware datetimes; compare them as aware UTC."""
    return {
        name: (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))
        if isinstance(value, datetime)
        else value
        for name, value in row.items()
    }


def sqlite_url(path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[str, SeedSummary]:
    # The folder does not exist yet: seeding has to create it.
    url = sqlite_url(tmp_path_factory.mktemp("demo") / "not" / "yet" / "demo.sqlite")
    return url, seed_demo(url, rows=ROWS)


@pytest.fixture(scope="module")
def seeded_orders(seeded) -> list[dict]:
    return read_table(seeded[0], orders)


def assert_hard_cases(rows: list[dict]) -> None:
    """Every awkward value a renderer must survive appears at least once among ``rows``."""
    names = [row["customer_name"] for row in rows]
    notes = [row["note"] for row in rows]
    texts = names + [note for note in notes if note]
    assert None in notes and "" in notes, "NULL and empty notes must both be present"
    assert any(note and note.strip() for note in notes)
    assert NON_ASCII_NAMES <= set(names)
    assert any(ord(char) > 0xFFFF for text in texts for char in text), "a character outside the BMP"
    assert any("," in text for text in texts)
    assert any('"' in text for text in texts)
    assert any("\n" in text.replace("\r\n", "") for text in texts)
    assert any("\r\n" in text for text in texts)
    assert {text[0] for text in texts} >= set(FORMULA_STARTS)
    assert {row["shipped_on"] is None for row in rows} == {True, False}
    assert {row["discount_rate"] is None for row in rows} == {True, False}
    assert {row["is_paid"] for row in rows} == {True, False}
    assert {row["status"] for row in rows} == set(STATUSES)
    assert {row["currency"] for row in rows} == {"EUR", "USD", "GBP", "JPY"}
    assert {row["tenant_id"] for row in rows} == set(TENANTS)
    amounts = [row["amount"] for row in rows]
    assert all(isinstance(amount, Decimal) and amount.as_tuple().exponent == -2 for amount in amounts)
    assert {Decimal("0.00"), Decimal("9999999.99")} <= set(amounts)
    assert {1, 500} <= {row["quantity"] for row in rows}
    assert any(row["created_at"].microsecond for row in rows)


def test_tables_match_the_catalog(monkeypatch):
    monkeypatch.delenv(CATALOG_PATH_ENV, raising=False)
    catalog = load_catalog()
    for dataset in catalog.datasets.values():
        table = metadata.tables[dataset.table]
        assert [column.name for column in table.columns] == dataset.column_names
        assert [column.name for column in table.primary_key.columns] == [dataset.key]
        assert [dataset.tenant_column] in [[c.name for c in index.columns] for index in table.indexes]
        for spec in dataset.columns.values():
            column_type = table.c[spec.name].type
            assert type(column_type) is CATALOG_TYPES[spec.type], spec.name
            if spec.type == "decimal":
                assert (column_type.precision, column_type.scale) == (spec.precision, spec.scale)
            if spec.type == "timestamp":
                assert column_type.timezone
    assert catalog.permissions_table == export_permissions.name


def test_seed_writes_the_requested_counts(seeded):
    url, summary = seeded
    assert summary == SeedSummary(url=url, orders=ROWS, customers=ROWS // 20, users=3, grants=4)
    counts = {table.name: len(read_table(url, table)) for table in DEMO_TABLES}
    assert counts == {"orders": ROWS, "customers": ROWS // 20, "export_users": 3, "export_permissions": 4}


def test_seed_creates_the_indexes(seeded):
    engine = sa.create_engine(seeded[0])
    try:
        inspector = sa.inspect(engine)
        indexed = {
            table: {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
            for table in ("orders", "customers")
        }
    finally:
        engine.dispose()
    assert {("tenant_id",), ("created_at",)} <= indexed["orders"]
    assert ("tenant_id",) in indexed["customers"]


def test_orders_hold_every_hard_case(seeded_orders):
    assert_hard_cases(seeded_orders)
    # Not only in the pinned first rows: hard values keep turning up further down.
    later = seeded_orders[100:]
    assert None in [row["note"] for row in later] and "" in [row["note"] for row in later]
    assert any("\n" in row["customer_name"] or "," in row["customer_name"] for row in later)


def test_fifty_orders_already_hold_every_hard_case(tmp_path):
    url = sqlite_url(tmp_path / "small.sqlite")
    seed_demo(url, rows=50)
    assert_hard_cases(read_table(url, orders))


def test_orders_are_consistent_with_their_customers(seeded, seeded_orders):
    by_id = {row["customer_id"]: row for row in read_table(seeded[0], customers)}
    for order in seeded_orders:
        customer = by_id[order["customer_id"]]
        assert (order["tenant_id"], order["customer_name"]) == (customer["tenant_id"], customer["name"])
        assert order["is_paid"] == (order["status"] in ("paid", "shipped", "refunded"))
        if order["status"] in ("pending", "cancelled"):
            assert order["shipped_on"] is None
        if order["shipped_on"] is not None:
            assert order["shipped_on"] >= order["created_at"].date()
        assert 1 <= order["quantity"] <= 500
    created = [as_utc(order)["created_at"] for order in seeded_orders]
    assert min(created) >= datetime(2023, 1, 1, tzinfo=UTC) and max(created) < datetime(
        2026, 1, 1, tzinfo=UTC
    )
    assert {moment.year for moment in created} == {2023, 2024, 2025}


def test_customers_hold_hard_names_and_both_states(seeded):
    rows = read_table(seeded[0], customers)
    assert NON_ASCII_NAMES <= {row["name"] for row in rows}
    assert {row["is_active"] for row in rows} == {True, False}
    assert {row["tenant_id"] for row in rows} == set(TENANTS)
    assert len({row["email"] for row in rows}) == len(rows)


def test_seeding_is_deterministic(seeded, tmp_path):
    again = sqlite_url(tmp_path / "again.sqlite")
    seed_demo(again, rows=ROWS)
    for table in DEMO_TABLES:
        assert read_table(again, table) == read_table(seeded[0], table), table.name
    other_seed = sqlite_url(tmp_path / "other.sqlite")
    seed_demo(other_seed, rows=ROWS, seed=7)
    assert read_table(other_seed, orders) != read_table(seeded[0], orders)


def test_reseeding_replaces_the_previous_rows(tmp_path):
    url = sqlite_url(tmp_path / "demo.sqlite")
    seed_demo(url, rows=300)
    summary = seed_demo(url, rows=60)
    assert (summary.orders, summary.customers) == (60, 50)
    assert [row["order_id"] for row in read_table(url, orders)] == list(range(1, 61))


def test_grants_cover_admin_analyst_and_auditor(seeded):
    users = {row["user_name"] for row in read_table(seeded[0], export_users)}
    grants: dict[str, set] = {}
    for row in read_table(seeded[0], export_permissions):
        grants.setdefault(row["user_name"], set()).add((row["dataset"], row["tenant_id"]))
    assert users == {"admin", "analyst", "auditor"}
    assert grants == {
        "admin": {(ALL, ALL)},
        "analyst": {("orders", "acme"), ("orders", "globex"), ("customers", "acme")},
    }


def test_negative_row_counts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rows"):
        seed_demo(sqlite_url(tmp_path / "demo.sqlite"), rows=-1)


def test_default_source_url(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPORT_DATA_DIR", raising=False)
    monkeypatch.delenv("EXPORT_SOURCE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_source_url() == f"sqlite:///{tmp_path.resolve() / 'var' / 'demo.sqlite'}"
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", "postgresql+psycopg://reader@db.internal/shop")
    assert default_source_url() == "postgresql+psycopg://reader@db.internal/shop"


def test_postgres_holds_the_same_rows_as_sqlite(postgres_server_url, seeded, seeded_orders):
    summary = seed_demo(postgres_server_url, rows=ROWS)
    assert (summary.orders, summary.customers, summary.users, summary.grants) == (ROWS, ROWS // 20, 3, 4)
    postgres_orders = read_table(postgres_server_url, orders)
    assert [as_utc(row) for row in postgres_orders] == [as_utc(row) for row in seeded_orders]
    # Decimal equality ignores trailing zeros; the text must match too, cent for cent.
    assert [str(row["amount"]) for row in postgres_orders] == [str(row["amount"]) for row in seeded_orders]
    assert_hard_cases(postgres_orders)
    for table in (customers, export_users, export_permissions):
        assert [as_utc(row) for row in read_table(postgres_server_url, table)] == [
            as_utc(row) for row in read_table(seeded[0], table)
        ], table.name
    engine = sa.create_engine(postgres_server_url)
    try:
        with engine.connect() as connection:
            analyzed = connection.execute(
                sa.text("SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'orders'")
            ).scalar_one()
        indexed = {tuple(ix["column_names"]) for ix in sa.inspect(engine).get_indexes("orders")}
    finally:
        engine.dispose()
    assert analyzed > 0, "seed_demo must ANALYZE so the first exports get good plans"
    assert {("tenant_id",), ("created_at",)} <= indexed


# --- seeding only ever replaces the demo's own tables ---------------------------------------------


def make_table(url: str, ddl: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in (ddl, *statements):
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def table_names(url: str, schema: str | None = None) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names(schema=schema))
    finally:
        engine.dispose()


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    finally:
        engine.dispose()


def refusal(url: str, **options) -> str:
    with pytest.raises(NotADemoDatabase) as refused:
        seed_demo(url, rows=20, **options)
    message = str(refused.value)
    assert "--db" in message and "--force" in message
    return message


@pytest.fixture
def postgres_url_with_password(postgres_database) -> str:
    """A fresh database; the URL carries a password (the local server ignores it) to check it is masked."""
    return sa.make_url(postgres_database("guard")).set(password="s3cret-pw").render_as_string(hide_password=False)


def test_a_database_with_other_tables_is_left_alone(tmp_path):
    url = sqlite_url(tmp_path / "shop.sqlite")
    make_table(url, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)", "INSERT INTO invoices VALUES (1)")

    message = refusal(url)

    assert str(tmp_path / "shop.sqlite") in message and "invoices" in message
    assert table_names(url) == {"invoices"} and count_rows(url, "invoices") == 1


def test_demo_tables_the_seeder_did_not_create_are_left_alone(tmp_path):
    url = sqlite_url(tmp_path / "shop.sqlite")
    make_table(
        url, "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, total TEXT)", "INSERT INTO orders VALUES (7, 'a')"
    )

    message = refusal(url)

    assert "orders" in message and "not created by seed-demo" in message
    assert count_rows(url, "orders") == 1


def test_force_replaces_the_demo_tables_and_keeps_the_others(tmp_path):
    url = sqlite_url(tmp_path / "shop.sqlite")
    make_table(url, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)", "INSERT INTO invoices VALUES (1)")
    make_table(url, "CREATE TABLE orders (order_id INTEGER PRIMARY KEY)", "INSERT INTO orders VALUES (7)")

    summary = seed_demo(url, rows=20, force=True)

    assert summary.orders == 20 and count_rows(url, "orders") == 20
    assert count_rows(url, "invoices") == 1
    seed_demo(url, rows=30, force=True)  # the foreign table is still there: force is still needed
    refusal(url)


def test_a_seeded_database_is_marked_and_can_be_seeded_again(tmp_path):
    url = sqlite_url(tmp_path / "demo.sqlite")
    seed_demo(url, rows=20)
    assert table_names(url) == {t.name for t in DEMO_TABLES} | {DEMO_MARKER_TABLE}
    assert seed_demo(url, rows=40).orders == 40


def test_postgres_with_other_tables_is_refused_with_the_password_hidden(postgres_url_with_password):
    url = postgres_url_with_password
    make_table(url, "CREATE SCHEMA billing")
    make_table(url, "CREATE TABLE billing.invoices (id int)", "CREATE TABLE public.payments (id int)")

    message = refusal(url)

    assert "s3cret-pw" not in message and "***" in message
    assert sa.make_url(url).database in message
    assert "billing.invoices" in message and "payments" in message
    assert table_names(url) == {"payments"}


def test_postgres_orders_table_not_made_by_the_seeder_survives(postgres_url_with_password):
    url = postgres_url_with_password
    make_table(url, "CREATE TABLE orders (order_id bigint primary key)", "INSERT INTO orders VALUES (42)")

    assert "orders" in refusal(url)
    assert count_rows(url, "orders") == 1
    assert seed_demo(url, rows=20, force=True).orders == 20
    assert seed_demo(url, rows=25).orders == 25  # now marked as the seeder's own


def test_cli_seed_demo_refuses_the_configured_database_unless_forced(postgres_url_with_password, monkeypatch, capsys):
    from export_pipelines.cli import main

    url = postgres_url_with_password
    make_table(url, "CREATE TABLE customers (id int)", "CREATE TABLE audit_log (id int)")
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)

    assert main(["seed-demo", "--rows", "20"]) == 2
    error = capsys.readouterr().err
    assert "audit_log" in error and "customers" in error and "--force" in error and "s3cret-pw" not in error
    assert table_names(url) == {"customers", "audit_log"}
    assert main(["seed-demo", "--rows", "20", "--force"]) == 0
    assert "audit_log" in table_names(url)

"""The demo source database: the catalog's tables, filled with realistic, awkward, repeatable rows.

Tests, benchmarks and first-time users all export from this database, so its tables match
``catalog.yaml`` column for column (a test keeps them in step) and its values are built to break
careless exports (see ``values``). Seeding is deterministic: the same kind of database, row count and
seed always give the same rows, so a file exported from SQLite can be compared with one
exported from PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import sqlalchemy as sa

from export_pipelines.demo.values import Customer, customer_count, customer_rows, order_rows

# Re-exported: the demo seeds where the resources read from unless told otherwise
# ($EXPORT_SOURCE_DB_URL, else demo.sqlite in the data folder, ./var by default).
from export_pipelines.settings import default_source_url

__all__ = [
    "ALL",
    "DEMO_GRANTS",
    "DEMO_MARKER_TABLE",
    "DEMO_TABLES",
    "DEMO_USERS",
    "NotADemoDatabase",
    "SeedSummary",
    "customers",
    "default_source_url",
    "export_permissions",
    "export_users",
    "metadata",
    "orders",
    "seed_demo",
]

ALL = "*"  # in export_permissions.dataset or .tenant_id: every dataset, every tenant
BATCH_ROWS = 10_000

metadata = sa.MetaData()

# Ids are given by the seeder, so no key is autoincrement: PostgreSQL gets plain BIGINT, not a sequence.
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("customer_name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("discount_rate", sa.Float),
    sa.Column("is_paid", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("shipped_on", sa.Date),
    sa.Column("note", sa.Text),
    sa.Index("ix_orders_tenant_id", "tenant_id"),
    sa.Index("ix_orders_created_at", "created_at"),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_customers_tenant_id", "tenant_id"),
)

export_users = sa.Table(
    "export_users",
    metadata,
    sa.Column("user_name", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
)

# One row per (user, dataset, tenant) grant; ALL in dataset or tenant_id widens it to every one.
export_permissions = sa.Table(
    "export_permissions",
    metadata,
    sa.Column("user_name", sa.Text, primary_key=True),
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, primary_key=True),
)

DEMO_TABLES = (orders, customers, export_users, export_permissions)

# admin sees everything, analyst some tenants of each dataset, auditor nothing (to test refusals).
DEMO_USERS = (
    {"user_name": "admin", "display_name": "Avery Admin", "email": "admin@example.com"},
    {"user_name": "analyst", "display_name": "Anaïs Analyst", "email": "analyst@example.com"},
    {"user_name": "auditor", "display_name": "Audrey Auditor", "email": "auditor@example.com"},
)
DEMO_GRANTS = (
    {"user_name": "admin", "dataset": ALL, "tenant_id": ALL},
    {"user_name": "analyst", "dataset": "orders", "tenant_id": "acme"},
    {"user_name": "analyst", "dataset": "orders", "tenant_id": "globex"},
    {"user_name": "analyst", "dataset": "customers", "tenant_id": "acme"},
)


# The seeder's signature: one row per demo table it created. Seeding drops and recreates the demo
# tables, so it only does so where every table present is one of these (or with force=True).
DEMO_MARKER_TABLE = "export_demo_marker"
demo_marker = sa.Table(
    DEMO_MARKER_TABLE,
    sa.MetaData(),
    sa.Column("table_name", sa.Text, primary_key=True),
    sa.Column("seeded_at", sa.DateTime(timezone=True), nullable=False),
)
_SYSTEM_SCHEMAS = ("information_schema",)  # pg_* schemas are never listed by SQLAlchemy


class NotADemoDatabase(ValueError):
    """seed-demo was pointed at a database holding tables it did not create; nothing was changed."""


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed_demo`` wrote; ``url`` has its password masked, so the summary is safe to log."""

    url: str
    orders: int
    customers: int
    users: int
    grants: int


def seed_demo(url: str, rows: int = 100_000, seed: int = 42, force: bool = False) -> SeedSummary:
    """Drop and recreate the demo tables at ``url`` and fill them with ``rows`` orders.

    Refuses (NotADemoDatabase, before changing anything) a database that holds any table, view or
    schema-qualified table other than the demo's own, or demo-named tables the seeder did not
    create (no row in ``export_demo_marker``): ``$EXPORT_SOURCE_DB_URL`` may name a real database.
    ``force=True`` replaces the demo tables anyway; other tables are never touched.

    On PostgreSQL everything happens in one transaction, so a failed seed leaves the previous data
    in place; Python's sqlite3 driver commits DDL at once, so a failed SQLite seed can leave empty
    tables (seed again). Orders are generated and written in batches, so a million rows need little
    memory; customers (one per twenty orders) stay in memory because every order copies a name.
    """
    if rows < 0:
        raise ValueError(f"rows must be zero or more, not {rows}")
    _create_sqlite_folder(url)
    rng = random.Random(seed)
    customer_list = list(customer_rows(customer_count(rows), rng))
    directory = [Customer.from_row(row) for row in customer_list]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            if not force:
                _refuse_foreign_database(connection)
            metadata.drop_all(connection, tables=DEMO_TABLES)
            # Secondary indexes are built after loading: one sort is cheaper than a million inserts.
            for table in DEMO_TABLES:
                connection.execute(sa.schema.CreateTable(table))
            load = _copy_rows if _uses_psycopg(connection) else _insert_rows
            customer_total = load(connection, customers, customer_list)
            order_total = load(connection, orders, order_rows(rows, rng, directory))
            connection.execute(export_users.insert(), list(DEMO_USERS))
            connection.execute(export_permissions.insert(), list(DEMO_GRANTS))
            _mark_as_seeded(connection)
            for table in DEMO_TABLES:
                for index in table.indexes:
                    index.create(connection)
            if connection.dialect.name == "postgresql":
                # Fresh tables have no statistics; without them the first exports get poor plans.
                quote = connection.dialect.identifier_preparer.quote
                connection.exec_driver_sql("ANALYZE " + ", ".join(quote(t.name) for t in DEMO_TABLES))
    finally:
        engine.dispose()
    return SeedSummary(
        url=sa.make_url(url).render_as_string(hide_password=True),
        orders=order_total,
        customers=customer_total,
        users=len(DEMO_USERS),
        grants=len(DEMO_GRANTS),
    )


def _refuse_foreign_database(connection: sa.Connection) -> None:
    """Raise NotADemoDatabase unless every table present is a demo table this seeder created."""
    inspector = sa.inspect(connection)
    default = inspector.default_schema_name
    schemas = [default] if connection.dialect.name == "sqlite" else inspector.get_schema_names()
    present = []
    for schema in (s for s in schemas if s not in _SYSTEM_SCHEMAS):
        names = inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
        if connection.dialect.name == "postgresql":
            names += inspector.get_materialized_view_names(schema=schema)
            names += inspector.get_foreign_table_names(schema=schema)
        present += [name if schema == default else f"{schema}.{name}" for name in names]
    own = {table.name for table in DEMO_TABLES}
    foreign = sorted(set(present) - own - {DEMO_MARKER_TABLE})
    marked = set()
    if DEMO_MARKER_TABLE in present:
        marked = set(connection.execute(sa.select(demo_marker.c.table_name)).scalars())
    unmarked = sorted(own.intersection(present) - marked)
    if not foreign and not unmarked:
        return
    where = connection.engine.url.render_as_string(hide_password=True)
    problems = []
    if foreign:
        problems.append(f"tables seed-demo did not create: {', '.join(foreign)}")
    if unmarked:
        problems.append(f"demo-named tables not created by seed-demo: {', '.join(unmarked)}")
    raise NotADemoDatabase(
        f"{where} holds {'; and '.join(problems)}. Seeding drops and replaces "
        f"{', '.join(t.name for t in DEMO_TABLES)}, so nothing was changed. Pass --db with the URL of an "
        "empty or demo database, or --force to replace the demo tables there anyway (other tables are kept)"
    )


def _mark_as_seeded(connection: sa.Connection) -> None:
    demo_marker.create(connection, checkfirst=True)
    names = [table.name for table in DEMO_TABLES]
    connection.execute(demo_marker.delete().where(demo_marker.c.table_name.in_(names)))
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # SQLite stores naive UTC, like the demo's own timestamps
    connection.execute(demo_marker.insert(), [{"table_name": name, "seeded_at": now} for name in names])


def _create_sqlite_folder(url: str) -> None:
    """SQLite creates the database file but not its folder; create that (in-memory URLs have none)."""
    parsed = sa.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if not database.startswith("file:"):  # URI filenames are the driver's business
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _uses_psycopg(connection: sa.Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def _copy_rows(connection: sa.Connection, table: sa.Table, rows: Iterable[tuple]) -> int:
    """Stream rows with PostgreSQL COPY on the transaction's own psycopg connection."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns),
    )
    count = 0
    driver_connection = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _insert_rows(connection: sa.Connection, table: sa.Table, rows: Iterable[tuple]) -> int:
    """Insert with executemany in batches; on SQLite, timestamps become the naive UTC it stores."""
    names = [column.name for column in table.columns]
    timestamps = [i for i, column in enumerate(table.columns) if isinstance(column.type, sa.DateTime)]
    naive_utc = connection.dialect.name == "sqlite"
    count = 0
    for batch in _batches(rows, BATCH_ROWS):
        records = []
        for row in batch:
            values = list(row)
            if naive_utc:
                for i in timestamps:
                    if values[i] is not None:
                        values[i] = values[i].astimezone(UTC).replace(tzinfo=None)
            records.append(dict(zip(names, values, strict=True)))
        connection.execute(table.insert(), records)
        count += len(records)
    return count


def _batches(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch

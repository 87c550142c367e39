"""``export-pipelines seed-demo``: the demo database, created where it does not exist yet.

A newcomer follows the README with ``--db postgresql://.../demo``; a server answers that the database
does not exist, and the first thing they would do next is create it. So seed-demo creates it (through
the server's ``postgres`` maintenance database, as ``createdb`` does) and says so.
"""

from __future__ import annotations

import sqlalchemy as sa

from export_pipelines.settings import default_source_url


def add_demo_commands(commands) -> None:
    seed = commands.add_parser("seed-demo", help="create deterministic demo data (orders, customers, grants)")
    seed.add_argument("--db", help="SQLAlchemy URL (default: $EXPORT_SOURCE_DB_URL or var/demo.sqlite); "
                                   "a PostgreSQL database that does not exist is created")  # fmt: skip
    seed.add_argument("--rows", type=int, default=100_000, help="number of orders (default 100,000)")
    seed.add_argument("--seed", type=int, default=42, help="random seed: same seed, same data")
    seed.add_argument("--force", action="store_true",
                      help="replace the demo tables even where the database holds tables seed-demo did not create")
    seed.set_defaults(handler=_seed_demo)


def _seed_demo(args) -> int:
    from export_pipelines.demo.seed import seed_demo

    url = args.db or default_source_url()
    if create_postgres_database(url):
        print(f"Created database {sa.make_url(url).database}.")
    summary = seed_demo(url, rows=args.rows, seed=args.seed, force=args.force)
    print(f"Seeded {summary.orders:,} orders, {summary.customers:,} customers, {summary.users} users "
          f"and {summary.grants} grants into {summary.url}")  # fmt: skip
    return 0


def create_postgres_database(url: str) -> bool:
    """Create the PostgreSQL database ``url`` names if it does not exist; True when it was created.

    Other dialects are left alone (SQLite creates its file; seed_demo creates the file's folder).
    """
    target = sa.make_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        return False
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if exists:
                return False
            quoted = connection.dialect.identifier_preparer.quote_identifier(target.database)
            connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
            return True
    finally:
        admin.dispose()

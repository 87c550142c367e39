"""A PostgreSQL source whose rows wait for the test: exports that stay running until the test lets them go.

The demo's tables, seeded small, and a view over each exported one whose one text column is read
through ``released()``, a function that takes a shared advisory lock for each row. The catalog points
the datasets at the views. While the test holds that lock exclusively (``HeldSource.hold``),
``validate_request`` completes (it only counts rows, and a STABLE function in a column the count does
not use is never called), and ``collect_chunks`` waits at its first row: a run stays STARTED, its plan
stored, for as long as the test wants, on a machine however loaded, and ends normally once released.
Evidence instead of timing: nothing here depends on how fast an export is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import yaml

from export_pipelines.demo.seed import seed_demo

CATALOG = Path(__file__).parents[2] / "export_pipelines" / "datasets" / "catalog.yaml"
HELD_COLUMNS = {"orders": "note", "customers": "name"}
LOCK_KEY = 4_242_001
ROWS = 200
# STABLE, not VOLATILE: PostgreSQL then drops the call from a count(*) over the view (validate_request's),
# while every selected row still calls it (collect_chunks', COPY included).
RELEASED = f"""CREATE FUNCTION released(value text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM pg_advisory_lock_shared({LOCK_KEY});
  PERFORM pg_advisory_unlock_shared({LOCK_KEY});
  RETURN value;
END $$"""


class HeldSource:
    """The source's URL, the catalog file naming its views, and the lock that holds their rows back."""

    def __init__(self, url: str, catalog: Path):
        self.url, self.catalog = url, catalog

    @classmethod
    def create(cls, postgres_database, folder: Path) -> HeldSource:
        """A new database (``postgres_database`` is the session's factory), seeded, with its views and catalog."""
        url = postgres_database("held")
        seed_demo(url, rows=ROWS)
        catalog = yaml.safe_load(CATALOG.read_text())
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text(RELEASED))
            for dataset, held in HELD_COLUMNS.items():
                spec = catalog["datasets"][dataset]
                columns = ", ".join(f"released({c}) AS {c}" if c == held else c for c in spec["columns"])
                connection.execute(sa.text(f"CREATE VIEW held_{dataset} AS SELECT {columns} FROM {spec['table']}"))
                spec["table"] = f"held_{dataset}"
        engine.dispose()
        path = folder / "held_catalog.yaml"
        path.write_text(yaml.safe_dump(catalog, sort_keys=False))
        return cls(url, path)

    @contextmanager
    def hold(self) -> Iterator[Hold]:
        """Rows wait inside the block (or until ``release()``); the lock goes with the block in any case."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        held = Hold(connection)
        try:
            yield held
        finally:
            held.release()
            engine.dispose()


class Hold:
    def __init__(self, connection: sa.Connection):
        self._connection = connection

    def release(self) -> None:
        """Lets every waiting row go (a session lock ends with its connection)."""
        if not self._connection.closed:
            self._connection.close()

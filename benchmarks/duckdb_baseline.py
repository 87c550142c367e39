"""PostgreSQL to Parquet the way a user would do it without the project: DuckDB and its postgres extension.

The Parquet export's baseline in ``export_bench.py``: one process that attaches the PostgreSQL database
read-only and copies the export's columns, in key order, to a zstd Parquet file with row groups of the
export's default size. DuckDB's scanner reads a table on several connections at once under one
exported snapshot, and writes Parquet on every core.

    .venv/bin/python benchmarks/duckdb_baseline.py postgresql://postgres@127.0.0.1/db out.parquet order_id,amount

DuckDB 1.5.5 and the extension are pinned development dependencies; the extension is loaded from the
file its wheel installs (DuckDB's ``INSTALL postgres`` would download it). The wheel names the file
``postgres.duckdb_extension``, but its entry point is that of ``postgres_scanner``, the name DuckDB
derives from the file name, so it is loaded from a copy under that name.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROW_GROUP_SIZE = 100_000  # the Parquet renderer's default


def extension_file() -> Path | None:
    """The postgres extension the pinned wheel installed; None when the wheel is not installed."""
    try:
        import duckdb_extension_postgres
    except ImportError:
        return None
    return next(Path(duckdb_extension_postgres.__file__).parent.glob("extensions/*/postgres.duckdb_extension"), None)


def libpq_dsn(url: str) -> str:
    """The keyword form DuckDB's ATTACH takes, from a SQLAlchemy or libpq URL."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    parts = {"host": parsed.host or "127.0.0.1", "port": parsed.port or 5432, "user": parsed.username or "postgres",
             "dbname": parsed.database, "password": parsed.password}  # fmt: skip
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def export_parquet(url: str, output: str, columns: list[str], table: str = "orders", key: str = "order_id") -> None:
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="duckdb-ext-"))
    try:
        loadable = folder / "postgres_scanner.duckdb_extension"
        shutil.copy(extension_file(), loadable)
        connection = duckdb.connect()
        connection.execute(f"LOAD '{loadable}'")
        connection.execute(f"ATTACH '{libpq_dsn(url)}' AS pg (TYPE postgres, READ_ONLY)")
        select = f"SELECT {', '.join(columns)} FROM pg.public.{table} ORDER BY {key}"
        connection.execute(
            f"COPY ({select}) TO '{output}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
        )
        connection.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    export_parquet(sys.argv[1], sys.argv[2], sys.argv[3].split(","))

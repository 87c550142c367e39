"""One line for a database error at the command line: what is missing, and the command that makes it.

A newcomer's first commands meet a database that is not there yet: ``requests list`` before
``requests init``, a SQLite path whose folder does not exist, a PostgreSQL database nobody created.
SQLAlchemy's traceback says none of what to do next. The driver's own first line is kept; the SQL text
and its bound parameters (which SQLAlchemy appends) are not: they can quote request values.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

# Tables the project creates, and the command that creates each.
CREATED_BY = {
    "export_requests": "export-pipelines requests init",
    "export_subscriptions": "export-pipelines subscriptions init",
    "orders": "export-pipelines seed-demo",
    "customers": "export-pipelines seed-demo",
    "export_permissions": "export-pipelines seed-demo",
}
_MISSING_TABLE = re.compile(r'no such table: (?:\w+\.)?(\w+)|relation "(?:\w+\.)?(\w+)" does not exist')
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def explain_database_error(error: sa.exc.DBAPIError) -> str:
    """What went wrong with the database, in one line that ends with what to do."""
    detail = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
    if match := _MISSING_TABLE.search(detail):
        table = match.group(1) or match.group(2)
        fix = CREATED_BY.get(table)
        create = f"create it with `{fix}`" if fix else "check EXPORT_SOURCE_DB_URL and the catalog"
        return f"the table {table} does not exist in the source database: {create}"
    if match := _MISSING_DATABASE.search(detail):
        return (f"the database {match.group(1)} does not exist on the server: create it (`createdb {match.group(1)}`,"
                " or `export-pipelines seed-demo --db URL`, which creates it) or fix the URL")  # fmt: skip
    if "unable to open database file" in detail:
        return ("cannot open the SQLite database file (its folder does not exist or is not writable): "
                "run `export-pipelines seed-demo`, or set EXPORT_SOURCE_DB_URL to your database")  # fmt: skip
    if "Connection refused" in detail or "connection failed" in detail:
        return f"cannot reach the database server ({detail}): is it running, and is the URL right?"
    return f"database error ({type(error.orig).__name__}): {detail}"

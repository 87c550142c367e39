"""A database failure is stored as its kind (driver error, SQLSTATE), never with the SQL text or the values bound.

The filter value below is what a requester typed; the statement is the deployment's schema. Neither may
reach the run's stored events (the UI, ``audit``, the failure mail), which whoever reads run history sees.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from export_pipelines.demo.seed import seed_demo
from export_pipelines.errors import PermanentExportError
from export_pipelines.failures import describe, is_transient
from export_pipelines.source.engine import source_connection

SECRET = "SECRET-VALUE-4711"


def caught(run) -> BaseException:
    with pytest.raises(Exception) as raised:
        run()
    return raised.value


def chain_text(error: BaseException) -> str:
    """The messages Dagster's error info would store of an error: its own, its cause's and its context's."""
    from dagster._utils.error import serializable_error_info_from_exc_info

    info, messages = serializable_error_info_from_exc_info((type(error), error, error.__traceback__)), []
    while info is not None:
        messages.append(info.message)
        info = info.cause or info.context
    return "\n".join(messages)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_failed_statement_is_described_without_its_sql_or_values(request, dialect):
    url = request.getfixturevalue(f"{dialect}_url")

    def run():
        with source_connection(url) as connection:
            connection.execute(sa.text("SELECT no_such_column FROM orders WHERE status = :s"), {"s": SECRET})

    error = caught(run)

    stored = describe(error) + chain_text(error)
    assert SECRET not in stored and "no_such_column" not in stored and "SELECT" not in stored, stored
    assert not is_transient(error) and isinstance(error, PermanentExportError)
    assert ("42703" if dialect == "postgres" else "SQLITE_ERROR") in describe(error), describe(error)


def test_the_export_run_stores_no_sql_and_no_filter_value(tmp_path, monkeypatch):
    from dagster import DagsterInstance
    from dagster._serdes import serialize_value

    from export_pipelines.automation.launch import run_export
    from export_pipelines.request.model import ExportRequest

    source = tmp_path / "source.sqlite"
    seed_demo(f"sqlite:///{source}", rows=50)
    with sqlite3.connect(source) as connection:  # the deployment's schema drifted from the catalog
        connection.execute("ALTER TABLE orders RENAME COLUMN status TO state")
    (tmp_path / "home").mkdir()
    for name, value in {"EXPORT_DATA_DIR": str(tmp_path / "var"), "DAGSTER_HOME": str(tmp_path / "home"),
                        "EXPORT_SOURCE_DB_URL": f"sqlite:///{source}"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    request = ExportRequest(user="admin", dataset="orders", format="csv",
                            filters=[{"column": "status", "op": "eq", "value": SECRET}])  # fmt: skip

    with DagsterInstance.get() as instance:
        record, _ = run_export(request, instance, "CRITICAL")
        stored = "".join(serialize_value(entry) for entry in instance.all_logs(record.run_id))

    assert record.status == "FAILURE" and record.error
    assert "SQLITE_ERROR" in record.error, record.error
    assert "SELECT" not in record.error and SECRET not in record.error, record.error
    assert "SELECT" not in stored and SECRET not in stored and "Background on this error" not in stored

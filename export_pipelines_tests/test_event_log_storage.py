"""The opt-in instance storage with event log connections kept open (README: "Latency of one small export")."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, job, op

import export_pipelines
from export_pipelines.observability.event_log_storage import (
    KeptConnectionSqliteEventLogStorage,
    KeptConnectionSqliteStorage,
)

PROJECT_YAML = Path(export_pipelines.__file__).resolve().parents[1] / "dagster.yaml"
# The README's snippet that turns it on.
KEPT_STORAGE = {
    "custom": {
        "module": "export_pipelines.observability.event_log_storage",
        "class": "KeptConnectionSqliteStorage",
        "config": {"base_dir": {"env": "DAGSTER_HOME"}},
    }
}


@op
def nothing() -> None:
    pass


@job
def small_job():
    nothing()


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}, "storage": KEPT_STORAGE}))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        yield instance


def _connects(monkeypatch) -> list:
    opened = []
    real = sqlite3.connect

    def counting(*args, **kwargs):
        opened.append(args[0] if args else kwargs.get("database"))
        return real(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting)
    return opened


def test_the_shipped_instance_keeps_dagster_s_own_storage():
    """Off by default: Dagster's retry daemon may read a run's failure event before the run is marked failed."""
    assert "storage" not in yaml.safe_load(PROJECT_YAML.read_text())


def test_the_opt_in_config_builds_the_kept_connection_storage(instance):
    assert isinstance(instance.get_ref().storage, KeptConnectionSqliteStorage)
    assert isinstance(instance.event_log_storage, KeptConnectionSqliteEventLogStorage)


def test_events_of_a_run_are_written_on_one_connection_and_read_back(instance, monkeypatch):
    run = instance.create_run_for_job(small_job)
    instance.report_engine_event("first", run)
    opened = _connects(monkeypatch)

    for number in range(30):
        instance.report_engine_event(f"event {number}", run)

    assert opened == []  # Dagster's own storage opens and closes one connection per event
    messages = [entry.message for entry in instance.all_logs(run.run_id)]
    assert messages[-30:] == [f"event {number}" for number in range(30)]


def _write_in_child(run_id: str) -> None:
    with DagsterInstance.get() as instance:
        instance.report_engine_event("from the forked process", instance.get_run_by_id(run_id))


def test_a_forked_process_writes_on_its_own_connection(instance):
    run = instance.create_run_for_job(small_job)
    instance.report_engine_event("before the fork", run)  # the parent holds an open connection to the file

    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(run.run_id,))
    child.start()
    child.join(60)
    instance.report_engine_event("after the fork", run)

    assert child.exitcode == 0
    messages = [entry.message for entry in instance.all_logs(run.run_id)]
    assert messages[-3:] == ["before the fork", "from the forked process", "after the fork"]


def test_wipe_closes_the_kept_connections_before_deleting_the_files(instance):
    run = instance.create_run_for_job(small_job)
    instance.report_engine_event("kept", run)

    instance.event_log_storage.wipe()
    instance.report_engine_event("after the wipe", run)

    assert [entry.message for entry in instance.all_logs(run.run_id)] == ["after the wipe"]


def test_a_new_run_file_is_stamped_at_the_schema_head_as_dagster_stamps_it(instance):
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from dagster._core.storage.sql import ALEMBIC_SCRIPTS_LOCATION, get_alembic_config

    run = instance.create_run_for_job(small_job)
    instance.report_engine_event("creates the run's file", run)

    config = get_alembic_config(__file__)
    config.set_main_option("script_location", ALEMBIC_SCRIPTS_LOCATION)
    head = ScriptDirectory.from_config(config).get_current_head()
    with instance.event_log_storage.run_connection(run.run_id) as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head

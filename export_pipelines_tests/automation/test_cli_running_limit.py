"""The command line obeys the per-user running limit of the queue it does not pass through, and the queue
daemon's launches obey the command line's (Dagster's own dequeue code, run here step by step)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from export_pipelines.automation.admission import SubmissionRefused
from export_pipelines.automation.admission_lock import admission_lock
from export_pipelines.automation.launch import run_export
from export_pipelines.automation.running_limit import RUNNING, refuse_over_running_limit, take_running_slot
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines_tests.automation.conftest import place_run

PROJECT_DAGSTER_YAML = Path(__file__).parents[2] / "dagster.yaml"  # export/user limited to 10 running


@pytest.fixture
def instance(dagster_home, tmp_path, monkeypatch, sqlite_url):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    shutil.copy(PROJECT_DAGSTER_YAML, dagster_home / "dagster.yaml")
    with DagsterInstance.get() as instance:
        yield instance


def test_an_eleventh_export_of_a_user_with_ten_running_is_refused_saying_why(instance):
    for _ in range(10):
        place_run(instance, DagsterRunStatus.STARTED, {"export/user": "analyst"})

    with pytest.raises(SubmissionRefused, match="already has 10 exports running \\(the limit is 10"):
        run_export(ExportRequest(user="analyst", dataset="orders"), instance)

    assert instance.get_runs_count() == 10, "no run was created"


def test_another_user_and_a_user_under_the_limit_still_export(instance):
    for _ in range(10):
        place_run(instance, DagsterRunStatus.STARTED, {"export/user": "admin"})
    for _ in range(9):
        place_run(instance, DagsterRunStatus.STARTED, {"export/user": "analyst"})

    record, _ = run_export(ExportRequest(user="analyst", dataset="orders"), instance)

    assert record.status == "SUCCESS", record.error


def _running(instance, user: str) -> int:
    return instance.get_runs_count(RunsFilter(tags={TAG_USER: user}, statuses=RUNNING))


def test_a_run_the_daemon_picked_goes_back_to_the_queue_when_a_command_took_the_last_slot_meanwhile(project_instance):
    instance = project_instance
    for _ in range(9):
        place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: "analyst"})
    queued = place_run(instance, DagsterRunStatus.QUEUED, {TAG_USER: "analyst"})
    daemon, config = QueuedRunCoordinatorDaemon(interval_seconds=1), instance.get_concurrency_config()
    (picked,) = daemon._get_runs_to_dequeue(instance, config, fixed_iteration_time=None)  # 9 running: one may start
    with admission_lock(instance, "analyst"):  # meanwhile a command-line export takes the last slot, as it does
        refuse_over_running_limit(instance, "analyst")
        place_run(instance, DagsterRunStatus.STARTING, {TAG_USER: "analyst"})

    daemon._dequeue_run(instance, None, picked, config, fixed_iteration_time=None)  # marks it STARTING, launches

    assert instance.get_run_by_id(queued).status == DagsterRunStatus.QUEUED
    assert _running(instance, "analyst") == 10
    said = [r.message for r in instance.all_logs(queued, of_type=DagsterEventType.ENGINE_EVENT)]
    assert any("Back in the queue: user 'analyst' already has 10 exports running (the limit is 10)" in m for m in said)


def test_a_run_under_the_limit_and_a_run_of_another_job_keep_their_slot(project_instance):
    instance = project_instance
    for _ in range(9):
        place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: "analyst"})
    starting = place_run(instance, DagsterRunStatus.STARTING, {TAG_USER: "analyst"})  # the 10th, as the daemon marks it
    unlimited = place_run(instance, DagsterRunStatus.STARTING, {})

    assert take_running_slot(instance, instance.get_run_by_id(starting))
    assert take_running_slot(instance, instance.get_run_by_id(unlimited))
    assert instance.get_run_by_id(starting).status == DagsterRunStatus.STARTING

"""Launching at submission never launches a run twice, never overtakes a waiting run, never passes a limit; the
warm launcher's health check leaves alone the runs it did not start (a command-line export's)."""

from __future__ import annotations

import pytest
from dagster import DagsterEvent, DagsterRunStatus
from dagster._core.launcher.base import WorkerStatus

from export_pipelines.automation.launch_on_submission import launch_if_room
from export_pipelines.automation.running_limit import TAG_LAUNCHED, take_running_slot
from export_pipelines.automation.warm_launcher import TAG_PID, WarmRunLauncher
from export_pipelines.request.model import TAG_USER
from export_pipelines_tests.automation.conftest import place_run


def _queued(instance, user: str = "analyst"):
    """A run of ``user`` queued as the gate queues it: status QUEUED, one RUN_ENQUEUED event."""
    run = instance.get_run_by_id(place_run(instance, DagsterRunStatus.NOT_STARTED, {TAG_USER: user}))
    instance.report_dagster_event(DagsterEvent.job_enqueue(run), run_id=run.run_id)
    return instance.get_run_by_id(run.run_id)


def test_a_queued_run_is_launched_once_whichever_path_comes_second(project_instance):
    instance = project_instance
    run = _queued(instance)

    assert take_running_slot(instance, run)  # the gate, at submission
    assert not take_running_slot(instance, run)  # the daemon, which read it QUEUED a moment before
    assert instance.get_run_by_id(run.run_id).tags[TAG_LAUNCHED] == f"{run.run_id}/1"


def test_a_run_put_back_in_the_queue_can_be_launched_again(project_instance):
    instance = project_instance
    run = _queued(instance)
    assert take_running_slot(instance, run)
    instance.report_dagster_event(DagsterEvent.job_enqueue(run), run_id=run.run_id)  # back in the queue

    assert take_running_slot(instance, instance.get_run_by_id(run.run_id))


def test_a_submission_waits_for_the_daemon_behind_another_waiting_run(project_instance):
    instance = project_instance
    _queued(instance, "admin")  # waiting since before: it goes first
    run = _queued(instance)

    assert launch_if_room(instance, run, workspace=None).status == DagsterRunStatus.QUEUED
    assert TAG_LAUNCHED not in instance.get_run_by_id(run.run_id).tags


def test_a_submission_of_a_user_with_ten_running_waits_for_the_daemon(project_instance):
    instance = project_instance
    for _ in range(10):
        place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: "analyst"})
    run = _queued(instance)

    assert launch_if_room(instance, run, workspace=None).status == DagsterRunStatus.QUEUED


def test_a_submission_waits_for_the_daemon_when_the_deployment_runs_its_most(project_instance):
    instance = project_instance
    limit = instance.run_coordinator.get_run_queue_config().max_concurrent_runs
    for n in range(limit):
        place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: f"user{n}"})
    run = _queued(instance)

    assert launch_if_room(instance, run, workspace=None).status == DagsterRunStatus.QUEUED


def test_the_warm_launcher_leaves_alone_a_run_it_did_not_start(project_instance):
    instance = project_instance
    launcher = instance.run_launcher
    assert isinstance(launcher, WarmRunLauncher)  # the project's dagster.yaml
    command_line = instance.get_run_by_id(place_run(instance, DagsterRunStatus.STARTED, {TAG_USER: "analyst"}))
    gone = instance.get_run_by_id(place_run(instance, DagsterRunStatus.STARTED, {TAG_PID: "999999999"}))

    assert launcher.check_run_worker_health(command_line).status == WorkerStatus.RUNNING
    assert launcher.check_run_worker_health(gone).status == WorkerStatus.FAILED


def test_the_environment_may_turn_launching_at_submission_off_or_on_and_nothing_else(monkeypatch):
    from export_pipelines.automation.gate import LAUNCH_ON_SUBMISSION_ENV, ExportSubmissionGate
    from export_pipelines.errors import SettingsError

    shipped, off = ExportSubmissionGate(launch_on_submission=True), ExportSubmissionGate(launch_on_submission=False)
    monkeypatch.delenv(LAUNCH_ON_SUBMISSION_ENV, raising=False)
    assert shipped._launches_at_submission() and not off._launches_at_submission()

    monkeypatch.setenv(LAUNCH_ON_SUBMISSION_ENV, "0")
    assert not shipped._launches_at_submission()
    monkeypatch.setenv(LAUNCH_ON_SUBMISSION_ENV, "1")
    assert off._launches_at_submission()
    monkeypatch.setenv(LAUNCH_ON_SUBMISSION_ENV, "yes please")
    with pytest.raises(SettingsError, match="EXPORT_LAUNCH_ON_SUBMISSION='yes please' must be 1 or 0"):
        shipped._launches_at_submission()

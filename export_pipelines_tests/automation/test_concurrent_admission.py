"""The per-user queue cap and the dedupe window hold when submissions arrive at the same instant.

The webserver serves each GraphQL request in a thread of its own and calls ``instance.submit_run``
from it; these tests do the same from many threads at once, against the embedded SQLite instance
and an instance on PostgreSQL (as a deployment with several webservers has), and from several
processes on the SQLite instance.
"""

from __future__ import annotations

import multiprocessing
import shutil
import threading

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from export_pipelines.automation.admission import SubmissionRefused
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.automation.conftest import PROJECT_DAGSTER_YAML
from export_pipelines_tests.automation.doors import FROM_WEBSERVER, new_run


@pytest.fixture
def instance(project_instance):
    """The project's instance on SQLite and on PostgreSQL (the automation conftest's project_instance)."""
    return project_instance


def _all_at_once(instance, run_ids: list[str]) -> dict[str, DagsterRunStatus]:
    """Submit every run from a thread of its own, released together; each run's status afterwards."""
    start = threading.Barrier(len(run_ids))

    def submit(run_id):
        start.wait()
        try:
            instance.submit_run(run_id, FROM_WEBSERVER)
        except SubmissionRefused:
            pass

    threads = [threading.Thread(target=submit, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return {run_id: instance.get_run_by_id(run_id).status for run_id in run_ids}


def test_twenty_submissions_at_once_with_a_cap_of_two_queue_exactly_two(instance, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_QUEUED_PER_USER", "2")
    requests = [ExportRequest(user="analyst", dataset="orders", title=f"report {n}") for n in range(20)]
    run_ids = [new_run(instance, request.run_config()) for request in requests]

    statuses = _all_at_once(instance, run_ids)

    assert list(statuses.values()).count(DagsterRunStatus.QUEUED) == 2, statuses
    assert set(statuses.values()) == {DagsterRunStatus.QUEUED, DagsterRunStatus.FAILURE}


def test_five_identical_requests_at_once_run_once(instance):
    request = ExportRequest(user="analyst", dataset="orders")
    run_ids = [new_run(instance, request.run_config()) for _ in range(5)]

    statuses = _all_at_once(instance, run_ids)

    assert list(statuses.values()).count(DagsterRunStatus.QUEUED) == 1, statuses
    assert list(statuses.values()).count(DagsterRunStatus.CANCELED) == 4


def _submit_in_a_process(home: str, run_ids: list[str], start) -> None:
    import os

    os.environ["DAGSTER_HOME"] = home
    with DagsterInstance.get() as instance:
        start.wait()
        for run_id in run_ids:
            try:
                instance.submit_run(run_id, FROM_WEBSERVER)
            except SubmissionRefused:
                pass


def test_the_cap_holds_across_processes(dagster_home, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_QUEUED_PER_USER", "2")
    monkeypatch.setenv("EXPORT_DATA_DIR", str(dagster_home.parent / "var"))
    shutil.copy(PROJECT_DAGSTER_YAML, dagster_home / "dagster.yaml")
    with DagsterInstance.get() as instance:
        requests = [ExportRequest(user="analyst", dataset="orders", title=f"report {n}") for n in range(8)]
        run_ids = [new_run(instance, request.run_config()) for request in requests]
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(4)
        workers = [context.Process(target=_submit_in_a_process, args=(str(dagster_home), run_ids[n::4], start))
                   for n in range(4)]  # fmt: skip
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=300)

        statuses = [instance.get_run_by_id(run_id).status for run_id in run_ids]

    assert all(worker.exitcode == 0 for worker in workers)
    assert statuses.count(DagsterRunStatus.QUEUED) == 2, statuses

"""WarmRunLauncher in a real webserver and daemon (`dagster dev`), exports submitted through GraphQL.

The instance is the project's dagster.yaml with run_launcher set to the warm launcher; the source
holds 120,000 orders so that an xlsx export of all of them runs long enough to be terminated (its workbook
took well under a second to write at 60,000 rows once the xlsx writer got faster: a terminate then landed after
the file was published).
"""

from __future__ import annotations

import os
import re
import signal

import pytest
from dagster import DagsterEventType, DagsterInstance, RunsFilter

from export_pipelines.automation.warm_launcher import TAG_PID
from export_pipelines.delivery.links import record_with_link
from export_pipelines.demo.seed import seed_demo
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER, ExportRequest
from export_pipelines_tests.automation.dagster_dev import DagsterDev

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
ROWS = 120_000
LOCATION = {"repository_location_name": "export_pipelines", "repository_name": "__repository__"}
FORKED = re.compile(r"Forked from the warm forkserver \(pid (\d+)\) with (\d+) thread\(s\) and (\d+) open file")


def _warm(config: dict) -> None:
    config["run_launcher"] = {"module": "export_pipelines.automation.warm_launcher", "class": "WarmRunLauncher"}
    # The daemon asks the launcher whether each run's process lives every 2 s (60 s in dagster.yaml).
    config["run_monitoring"] = {**config.get("run_monitoring", {}), "poll_interval_seconds": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`dagster dev` with the warm launcher on a free port, over a source of 120,000 orders."""
    work = tmp_path_factory.mktemp("warm")
    source = f"sqlite:///{work / 'source.sqlite'}"
    seed_demo(source, rows=ROWS)
    dev = DagsterDev(work, {"EXPORT_SOURCE_DB_URL": source, "EXPORT_DATA_DIR": str(work / "var")}, _warm)
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)  # this process reads the same instance and files back
        dev.start()
        try:
            yield dev
        finally:
            dev.stop()


def _submit(dev: DagsterDev, request: ExportRequest) -> str:
    return dev.client.submit_job_execution("export_job", run_config=request.run_config(), **LOCATION)


def _forked(instance: DagsterInstance, run_id: str) -> tuple[int, int, int]:
    """(forkserver pid, threads, open files) the run's process reported when it started."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        if match := FORKED.search(entry.dagster_event.message or ""):
            return int(match[1]), int(match[2]), int(match[3])
    raise AssertionError(f"run {run_id} wrote no 'Forked from the warm forkserver' event")


def test_exports_run_in_processes_forked_from_one_clean_forkserver(server):
    dev = server
    requests = [
        ExportRequest(user="admin", dataset="orders", format=fmt, title=f"warm {fmt}", columns=["order_id"])
        for fmt in ("csv", "jsonl", "parquet")
    ]
    run_ids = [_submit(dev, request) for request in requests]

    assert [dev.wait_for_run(run_id, FINISHED) for run_id in run_ids] == ["SUCCESS"] * 3
    instance = DagsterInstance.get()
    pids, forkservers = set(), set()
    for request, run_id in zip(requests, run_ids):
        run = instance.get_run_by_id(run_id)
        assert {key: run.tags[key] for key in (TAG_USER, TAG_DATASET, TAG_FORMAT)} == request.run_tags()
        record = record_with_link(instance, audit_record_for_run(instance, run_id))
        assert record.status == "SUCCESS" and record.rows == ROWS and record.file_key and record.link
        assert record.format == request.format
        forkserver, threads, files = _forked(instance, run_id)
        # The fork inherits nothing the daemon opened: one thread, no database or other file.
        assert (threads, files) == (1, 0)
        pids.add(int(run.tags[TAG_PID]))
        forkservers.add(forkserver)
    assert len(pids) == 3 and len(forkservers) == 1
    assert forkservers.isdisjoint(pids) and dev.process.pid not in forkservers


def test_a_long_run_is_terminated_and_canceled(server):
    dev = server
    run_id = _submit(dev, ExportRequest(user="admin", dataset="orders", format="xlsx", title="warm long xlsx"))
    dev.wait_for_run(run_id, {"STARTED", *FINISHED})
    instance = DagsterInstance.get()
    # Stopped while it writes the workbook (over a second for 120,000 rows), not between steps.
    dev.wait_until(lambda: _rendering(instance, run_id), 120, f"run {run_id} to render its file", interval=0.2)

    terminated = dev.graphql(
        "mutation($runId: String!) { terminateRun(runId: $runId) { __typename "
        "... on PythonError { message } ... on TerminateRunFailure { message } } }",
        {"runId": run_id},
    )["terminateRun"]

    assert terminated["__typename"] == "TerminateRunSuccess", terminated
    assert dev.wait_for_run(run_id, FINISHED, seconds=60) == "CANCELED"
    assert not audit_record_for_run(instance, run_id).file_key


def _rendering(instance: DagsterInstance, run_id: str) -> bool:
    started = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    return any(entry.step_key == "render_file" for entry in started)


def test_a_run_whose_process_dies_is_failed_by_the_liveness_check_and_retried(server):
    """A warm run's process killed (out of memory, SIGKILL) is noticed by the daemon's run monitoring through
    the launcher's health check, failed with the reason, and run again from its first step (run retries)."""
    dev = server
    run_id = _submit(dev, ExportRequest(user="admin", dataset="orders", format="xlsx", title="warm killed xlsx"))
    instance = DagsterInstance.get()
    dev.wait_until(lambda: _rendering(instance, run_id), 120, f"run {run_id} to render its file", interval=0.2)
    pid = int(instance.get_run_by_id(run_id).tags[TAG_PID])

    os.kill(pid, signal.SIGKILL)  # nothing in the run's process gets to report anything

    assert dev.wait_for_run(run_id, FINISHED, seconds=60) == "FAILURE"
    # The daemon's run monitoring records the launcher's answer as the run's failure.
    reasons = [entry.dagster_event.message or "" for entry in instance.all_logs(run_id) if entry.dagster_event]
    assert any(f"the run's process {pid} is gone" in reason for reason in reasons), reasons[-5:]
    retry = dev.wait_until(lambda: _retry_of(instance, run_id), 60, f"a retry of run {run_id}")
    assert dev.wait_for_run(retry, FINISHED, seconds=180) == "SUCCESS"
    assert audit_record_for_run(instance, retry).rows == ROWS
    assert not audit_record_for_run(instance, run_id).file_key


def _retry_of(instance: DagsterInstance, run_id: str) -> str | None:
    retries = instance.get_run_ids(RunsFilter(tags={"dagster/parent_run_id": run_id}))
    return retries[0] if retries else None

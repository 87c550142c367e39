"""Runs that die are not left hanging: failed, retried with their tags, and their staging cleaned up.

The instance settings are checked in both dagster.yaml files; the behaviour is checked in a real
`dagster dev` (webserver, daemon, code server) with the project's dagster.yaml, made quicker to
react (run monitoring and the queue every second; the retry daemon at Dagster's default, every 5 s): an export's run
worker is killed with SIGKILL in the middle of its steps, as the kernel's OOM killer would.
"""

from __future__ import annotations

import csv
import os
import signal

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.storage.tags import (
    AUTO_RETRY_RUN_ID_TAG,
    MAX_RETRIES_TAG,
    MAX_RUNTIME_SECONDS_TAG,
    RETRY_NUMBER_TAG,
    WILL_RETRY_TAG,
)

from export_pipelines.automation.retention import retention_cleanup_job
from export_pipelines.demo.seed import seed_demo
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_DATASET, TAG_USER, ExportRequest
from export_pipelines.request.plan import staging_prefix
from export_pipelines.run.resources import ExportStorageResource
from export_pipelines_tests.automation.dagster_dev import PROJECT, DagsterDev
from export_pipelines_tests.exported import decrypted_copy

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

LOCATION = {"repository_location_name": "export_pipelines", "repository_name": "__repository__"}
SIX_HOURS = 6 * 60 * 60
# 20,000 rows in chunks of 500: 40 transform steps, several seconds of run to kill a worker in.
SLOW_REQUEST = ExportRequest(user="admin", dataset="orders", format="csv", chunk_size=500)


@pytest.mark.parametrize("path", ["dagster.yaml", "deploy/dagster.yaml"])
def test_both_instances_monitor_runs_and_retry_only_runs_that_died(path):
    config = yaml.safe_load((PROJECT / path).read_text())

    monitoring, retries = config["run_monitoring"], config["run_retries"]
    assert monitoring["enabled"] is True and monitoring["max_runtime_seconds"] == SIX_HOURS
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["poll_interval_seconds"] > 0
    assert retries == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}


def test_the_embedded_instance_reads_those_settings(tmp_path):
    (tmp_path / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == SIX_HOURS
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`dagster dev` with the project's dagster.yaml, monitoring runs every second; yields it."""
    work = tmp_path_factory.mktemp("lifecycle")
    source = f"sqlite:///{work / 'source.sqlite'}"
    seed_demo(source, rows=20_000)
    env = {
        "EXPORT_SOURCE_DB_URL": source, "EXPORT_DATA_DIR": str(work / "var"),
        # The retry daemon at its default interval (5 s), as deployed. It reads the failure event and then the run,
        # and Dagster stores a run's failure event before its status and will_retry tag: a read in between skips
        # the run for good. Polled every second, that happened in 1 of 3 CI rehearsals; at 5 s it is 5x rarer.
        # One release throughout: the package's source hash would change with any edit to the working tree
        # while the test runs, and a retry carries its parent's code version tag.
        "EXPORT_CODE_VERSION": "lifecycle-test",
    }  # fmt: skip
    dev = DagsterDev(work, env, _react_every_second)
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)  # this process reads the same instance and storage
        dev.start(seconds=120)
        try:
            # Dagster's retry daemon ignores every run failure logged before its first look at the event log (it
            # starts its cursor at the newest event then): a run killed before that would never be retried.
            dev.wait_until(_retry_daemon_is_watching, 120, "the retry daemon's first look at the event log")
            yield dev
        finally:
            dev.stop()


def _retry_daemon_is_watching() -> bool:
    # The cursor Dagster's EventLogConsumerDaemon keeps for run failures once it has looked (named after the enum's
    # value, PIPELINE_FAILURE).
    key = f"EVENT_LOG_CONSUMER_CURSOR-{DagsterEventType.RUN_FAILURE.value}"
    return bool(DagsterInstance.get().daemon_cursor_storage.get_cursor_values({key}))


def _react_every_second(config: dict) -> None:
    config["run_monitoring"]["poll_interval_seconds"] = 1
    config["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1


def _until(dev: DagsterDev, check, seconds: float, what: str):
    return dev.wait_until(check, seconds, what, interval=0.2)


def _status(run_id: str) -> DagsterRunStatus:
    return DagsterInstance.get().get_run_by_id(run_id).status


def _worker_pid(run_id: str) -> int | None:
    """The run worker's pid, once a transform step has started in it."""
    instance = DagsterInstance.get()
    started = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    if not any(entry.dagster_event.step_key.startswith("transform_chunk") for entry in started):
        return None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        pid = entry.dagster_event.engine_event_data.metadata.get("pid")
        if pid is not None:
            return int(getattr(pid, "value", pid))
    return None


def test_a_killed_run_is_failed_then_retried_once_with_its_tags_and_its_staging_cleaned_up(server, tmp_path):
    run_id = server.client.submit_job_execution(
        "export_job", run_config=SLOW_REQUEST.run_config(), tags={"ops/ticket": "OPS-1"}, **LOCATION
    )

    pid = _until(server, lambda: _worker_pid(run_id), 90, "a transform step")
    os.kill(pid, signal.SIGKILL)

    _until(server, lambda: _status(run_id) == DagsterRunStatus.FAILURE, 30, "the killed run to fail")
    instance = DagsterInstance.get()
    retry_id = _until(server, lambda: instance.get_run_by_id(run_id).tags.get(AUTO_RETRY_RUN_ID_TAG), 60, "a retry")
    killed = instance.get_run_by_id(run_id)
    assert killed.tags[WILL_RETRY_TAG] == "true" and killed.status == DagsterRunStatus.FAILURE
    _until(server, lambda: instance.get_run_by_id(retry_id).is_finished, 90, "the retry to finish")
    retry = instance.get_run_by_id(retry_id)
    assert retry.status == DagsterRunStatus.SUCCESS, audit_record_for_run(instance, retry_id).error
    assert retry.parent_run_id == run_id and retry.tags[RETRY_NUMBER_TAG] == "1"
    assert retry.step_keys_to_execute is None  # every step again: see the retry strategy in jobs.py
    for key in (TAG_USER, TAG_DATASET, "export/request_sha256", "ops/ticket"):
        assert retry.tags[key] == killed.tags[key]
    record = audit_record_for_run(instance, retry_id)
    with open(decrypted_copy(record.file_key, tmp_path), encoding="utf-8", newline="") as exported:
        header, *rows = csv.reader(exported)
    assert record.rows == len(rows) == len({row[0] for row in rows}) == 20_000  # every order, once

    storage = ExportStorageResource().get()
    assert any(storage.list(staging_prefix(run_id)))  # what the dead worker staged is still there
    assert retention_cleanup_job.execute_in_process(instance=instance).success
    assert not any(storage.list(staging_prefix(run_id))) and storage.exists(record.file_key)


def test_a_run_over_its_max_runtime_tag_is_stopped_and_failed(server):
    run_id = server.client.submit_job_execution(
        "export_job",
        # Not a duplicate of the above; 200 chunks, so the run outlasts its 2 seconds however fast the machine is.
        run_config=SLOW_REQUEST.model_copy(update={"format": "jsonl", "chunk_size": 100}).run_config(),
        tags={MAX_RUNTIME_SECONDS_TAG: "2", MAX_RETRIES_TAG: "0"},
        **LOCATION,
    )

    _until(server, lambda: DagsterInstance.get().get_run_by_id(run_id).is_finished, 60, "the run to end")

    # Stopped either way: Dagster marks it failed after terminating it, unless the run's own process
    # reports the termination as canceled first (a race the machine's load decides).
    assert _status(run_id) in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
    messages = [entry.message for entry in DagsterInstance.get().all_logs(run_id)]
    assert any("maximum runtime of 2 seconds" in message for message in messages)

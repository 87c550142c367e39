"""The launchpad path: `dagster dev` serves the code location and a GraphQL submission runs an export.

The UI's launchpad submits runs through the same GraphQL mutation the dagster-graphql client
uses, so this is the user's path through a real webserver, daemon and run queue.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster_graphql import DagsterGraphQLClient

from export_pipelines.audit import audit_record_for_run
from export_pipelines.request import TAG_USER, ExportRequest
from export_pipelines_tests.exported import decrypted_copy
from export_pipelines_tests.services import free_port, port_open

PROJECT = Path(__file__).resolve().parents[2]
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def dagster_dev(sqlite_source, dagster_home, tmp_path, monkeypatch):
    """`dagster dev` on a free port with the project's workspace.yaml and dagster.yaml."""
    shutil.copy(PROJECT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))  # this process reads the file back
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    port = free_port()
    env = {**os.environ, "EXPORT_SOURCE_DB_URL": sqlite_source, "EXPORT_DATA_DIR": str(tmp_path / "var")}
    env.pop("SMTP_HOST", None)
    dagster = Path(sys.executable).with_name("dagster")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", str(PROJECT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, "dagster dev exited during start-up"
            assert time.monotonic() < deadline, "dagster dev did not start within 120 s"
            time.sleep(0.5)
        yield DagsterGraphQLClient("127.0.0.1", port_number=port), tmp_path / "var"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for_run(client: DagsterGraphQLClient, run_id: str, seconds: float = 180) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in FINISHED:
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish within {seconds} s")


def test_export_submitted_through_graphql_runs_and_is_audited(dagster_dev):
    client, data_dir = dagster_dev
    request = ExportRequest(user="analyst", dataset="orders", format="jsonl", columns=["order_id", "tenant_id"])

    # No tags on purpose: a launchpad user rarely adds them, so the run must tag itself.
    run_id = client.submit_job_execution("export_job", run_config=request.run_config())

    assert _wait_for_run(client, run_id) == "SUCCESS"
    instance = DagsterInstance.get()
    record = audit_record_for_run(instance, run_id)
    assert instance.get_run_by_id(run_id).tags[TAG_USER] == "analyst"
    assert record.rows > 0 and record.skipped_rows > 0
    exported = Path(decrypted_copy(record.file_key))
    assert len(exported.read_text(encoding="utf-8").splitlines()) == record.rows

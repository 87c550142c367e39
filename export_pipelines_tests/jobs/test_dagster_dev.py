"""The launchpad path: `dagster dev` serves the code location and a GraphQL submission runs an export.

The UI's launchpad submits runs through the same GraphQL mutation the dagster-graphql client
uses, so this is the user's path through a real webserver, daemon and run queue.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines_tests.automation.dagster_dev import DagsterDev
from export_pipelines_tests.exported import decrypted_copy

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def dagster_dev(sqlite_source, tmp_path, monkeypatch):
    """`dagster dev` on a free port with the project's workspace.yaml and dagster.yaml."""
    dev = DagsterDev(tmp_path, {"EXPORT_SOURCE_DB_URL": sqlite_source, "EXPORT_DATA_DIR": str(tmp_path / "var")})
    dev.share_with(monkeypatch)  # this process reads the run and the file back
    dev.start(seconds=120)
    try:
        yield dev
    finally:
        dev.stop()


def test_export_submitted_through_graphql_runs_and_is_audited(dagster_dev, tmp_path):
    request = ExportRequest(user="analyst", dataset="orders", format="jsonl", columns=["order_id", "tenant_id"])

    # No tags on purpose: a launchpad user rarely adds them, so the run must tag itself.
    run_id = dagster_dev.client.submit_job_execution("export_job", run_config=request.run_config())

    assert dagster_dev.wait_for_run(run_id, FINISHED, interval=1) == "SUCCESS"
    instance = DagsterInstance.get()
    record = audit_record_for_run(instance, run_id)
    assert instance.get_run_by_id(run_id).tags[TAG_USER] == "analyst"
    assert record.rows > 0 and record.skipped_rows > 0
    exported = Path(decrypted_copy(record.file_key, tmp_path))
    assert len(exported.read_text(encoding="utf-8").splitlines()) == record.rows

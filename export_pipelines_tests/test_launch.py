"""run_export, what the command line calls: a run of the code location's job, executed in this process."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance
from dagster._core.storage.tags import MAX_RETRIES_TAG

from export_pipelines.automation.launch import CODE_LOCATION, DEFINITIONS_MODULE, REPOSITORY, run_export
from export_pipelines.request.model import ExportRequest


@pytest.fixture
def instance(sqlite_url, dagster_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    with DagsterInstance.get() as instance:
        yield instance


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_a_run_from_this_process_carries_the_code_location_s_origin(instance, executor):
    request = ExportRequest(user="admin", dataset="customers", format="jsonl", columns=["customer_id", "name"])

    record, location = run_export(request, instance, "CRITICAL", executor=executor)

    assert record.status == "SUCCESS" and location, record.error
    run = instance.get_run_by_id(record.run_id)
    origin = run.remote_job_origin
    assert (origin.location_name, origin.repository_origin.repository_name, origin.job_name) == (
        CODE_LOCATION, REPOSITORY, "export_job"
    )
    assert origin.repository_origin.code_location_origin.loadable_target_origin.module_name == DEFINITIONS_MODULE
    assert run.job_code_origin is not None  # how another process (multiprocess, Celery) loads the job
    assert run.run_config["execution"] == {"config": {executor: {}}}
    # The gate's tags, and no retry by the daemon behind the command's back: it reports how the run ended.
    assert run.tags["export/submitted_via"] == "cli" and run.tags[MAX_RETRIES_TAG] == "0"

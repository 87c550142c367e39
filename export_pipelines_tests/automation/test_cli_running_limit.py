"""The command line obeys the per-user running limit of the queue it does not pass through."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from export_pipelines.automation.admission import SubmissionRefused
from export_pipelines.automation.launch import run_export
from export_pipelines.request.model import ExportRequest
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

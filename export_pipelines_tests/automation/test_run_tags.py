"""At run time, validate_request only checks the export tags the gate set; it never rewrites one."""

from __future__ import annotations

import uuid

from dagster import DagsterInstance

from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines.run.jobs import export_job
from export_pipelines_tests.automation.doors import receipt_tags

REQUEST = ExportRequest(user="analyst", dataset="orders", format="jsonl")


def test_a_run_whose_user_tag_disagrees_with_its_request_fails_before_reading(dagster_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", f"sqlite:///{tmp_path / 'absent.sqlite'}")  # never opened
    instance = DagsterInstance.get()

    run_id = str(uuid.uuid4())  # admitted as the gate would, so only the tag is wrong
    result = export_job.execute_in_process(
        run_config=REQUEST.run_config(), instance=instance, run_id=run_id,
        tags={**receipt_tags(run_id, REQUEST), TAG_USER: "admin"}, raise_on_error=False,
    )  # fmt: skip

    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == "validate_request"
    assert "the run's export/user tag disagrees with the request" in str(failure.event_specific_data.user_failure_data)
    assert instance.get_run_by_id(result.run_id).tags[TAG_USER] == "admin", "the tag is never rewritten"
    assert not (tmp_path / "absent.sqlite").exists()

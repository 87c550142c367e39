"""What export_job writes to its run's event log besides the steps' own events: each write costs the run time."""

from __future__ import annotations

from collections import Counter

from dagster import DagsterEventType, DagsterInstance


def test_a_step_that_succeeds_logs_one_skipped_failure_hook_and_only_upload_keeps_the_record(run):
    record, _ = run(user="admin", dataset="orders", format="csv")

    assert record.status == "SUCCESS", record.error
    events = DagsterInstance.get().all_logs(record.run_id)
    skipped = Counter(e.step_key for e in events if e.dagster_event_type == DagsterEventType.HOOK_SKIPPED)
    completed = Counter(e.step_key for e in events if e.dagster_event_type == DagsterEventType.HOOK_COMPLETED)
    steps = {e.step_key for e in events if e.dagster_event_type == DagsterEventType.STEP_SUCCESS}
    assert "upload_file" in steps and len(steps) >= 6
    assert skipped == {step: 1 for step in steps}  # handle_step_failure, once
    assert completed == {"upload_file": 1}  # keep_file_record_on_upload ran, on upload_file alone

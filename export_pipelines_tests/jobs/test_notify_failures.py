"""A notification never fails the export: whatever happens to the mail, the run succeeds and says so.

Real runs of export_job (on SQLite, the fastest source) with broken mail settings, an outbox that
cannot be written and a real SMTP server that refuses; what happened to the mail is read back from
the run's own history: notify_recipients' output metadata and its warnings.
"""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

RECIPIENT = "ana@example.com"


@pytest.fixture
def source_url(sqlite_source):
    return sqlite_source


def mail_outcome(run_id: str) -> dict:
    """notify_recipients' output metadata, as plain values."""
    found = {}
    for entry in DagsterInstance.get().all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT):
        if entry.dagster_event.step_key == "notify_recipients":
            for name, value in entry.dagster_event.event_specific_data.metadata.items():
                found[name] = getattr(value, "value", value)
    return found


def warnings_of(run_id: str) -> list[str]:
    return [
        entry.user_message
        for entry in DagsterInstance.get().all_logs(run_id)
        if entry.dagster_event is None and entry.level == logging.WARNING and entry.step_key == "notify_recipients"
    ]


def attempts_of_notify(run_id: str) -> int:
    entries = DagsterInstance.get().all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    return 1 + sum(entry.dagster_event.step_key == "notify_recipients" for entry in entries)


def staging_left(export_env: Path) -> list[Path]:
    staging = export_env / "exports" / "_staging"
    return [path for path in staging.rglob("*") if path.is_file()] if staging.exists() else []


@pytest.mark.parametrize(
    ("variable", "value"), [("SMTP_PORT", "abc"), ("SMTP_TLS", "bogus")], ids=["SMTP_PORT=abc", "SMTP_TLS=bogus"]
)
def test_mail_settings_that_cannot_be_read_file_the_message_in_the_outbox(
    run, export_env, monkeypatch, variable, value
):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv(variable, value)

    record, location = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "SUCCESS", record.error
    assert location is not None
    outcome = mail_outcome(record.run_id)
    assert outcome["channel"] == "outbox"
    assert variable in outcome["reason"] and repr(value) in outcome["reason"]
    filed = message_from_bytes(Path(outcome["destination"]).read_bytes(), policy=policy.default)
    assert filed["To"] == RECIPIENT and record.run_id in filed.get_body(("plain",)).get_content()
    assert any(variable in warning and "outbox" in warning for warning in warnings_of(record.run_id))
    assert attempts_of_notify(record.run_id) == 1  # settings do not mend themselves: no retries
    assert not staging_left(export_env)


def test_an_outbox_that_cannot_be_written_fails_the_mail_not_the_export(run, export_env, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox folder should be")
    monkeypatch.setenv("EXPORT_OUTBOX_DIR", str(blocker))

    record, location = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "SUCCESS", record.error
    assert location is not None
    outcome = mail_outcome(record.run_id)
    assert outcome["channel"] == "failed"
    assert outcome["destination"] == str(blocker)
    assert "FileExistsError" in outcome["reason"] or "NotADirectoryError" in outcome["reason"]
    assert any("not delivered" in warning for warning in warnings_of(record.run_id))
    assert attempts_of_notify(record.run_id) == 1
    assert blocker.read_text().startswith("a file")
    assert not staging_left(export_env)


def test_smtp_refusing_for_good_and_an_unwritable_outbox_still_succeed(
    run, export_env, smtp_server, monkeypatch, tmp_path
):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("EXPORT_OUTBOX_DIR", str(blocker / "outbox"))
    smtp_server.fail_next_messages(1, code=554, text="5.7.1 rejected by policy")

    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "SUCCESS", record.error
    outcome = mail_outcome(record.run_id)
    assert outcome["channel"] == "failed"
    assert "554" in outcome["reason"] and "outbox" in outcome["reason"]
    assert smtp_server.messages == []
    assert not staging_left(export_env)


def test_a_delivered_mail_is_recorded_as_smtp(run, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))

    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    outcome = mail_outcome(record.run_id)
    assert outcome["channel"] == "smtp" and outcome["destination"] == f"{smtp_server.host}:{smtp_server.port}"
    assert "reason" not in outcome
    assert len(smtp_server.messages) == 1


def test_no_recipients_is_recorded_as_none(run):
    record, _ = run(user="admin", dataset="orders")

    assert record.status == "SUCCESS", record.error
    outcome = mail_outcome(record.run_id)
    assert outcome["channel"] == "none" and outcome["reason"] == "no recipients"

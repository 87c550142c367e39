"""A failed export mails its recipients once, with a reason they can act on, through a real SMTP server."""

from __future__ import annotations

import threading

import pytest
from dagster import DagsterEventType, DagsterInstance

from export_pipelines.errors import TransientSourceError
from export_pipelines.notifiers.failure import claim_failure_mail

RECIPIENT = "ana@example.com"
STACK_SIGNS = ("Traceback", 'File "', "line ", "Error:", "dagster")


@pytest.fixture
def mail(smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    return smtp_server


def the_failure_mail(mail) -> tuple[str, str, str]:
    (message,) = mail.messages
    assert message["To"] == RECIPIENT
    text = " ".join(message.get_body(("plain",)).get_content().split())
    return message["Subject"], text, message.get_body(("html",)).get_content()


def test_a_request_over_the_row_cap_mails_the_reason_and_what_to_do(run, mail, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_ROWS", "10")

    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "FAILURE"
    subject, text, html = the_failure_mail(mail)
    assert subject == "Your export of orders failed"
    assert "Your export of orders ('orders') failed: the export would have" in text
    assert "over the limit of 10; add filters or ask an administrator to raise EXPORT_MAX_ROWS" in text
    assert record.run_id in text
    assert not any(sign in text + html for sign in STACK_SIGNS)


def test_a_user_without_a_grant_is_told_whom_to_ask(run, mail):
    record, _ = run(user="auditor", dataset="orders", recipients=[RECIPIENT], title="<b>Q4</b> & more")

    assert record.status == "FAILURE"
    subject, text, html = the_failure_mail(mail)
    assert subject == "Your export of orders failed"
    assert "user 'auditor' has no grant on dataset 'orders'; ask an administrator for access" in text
    assert "'<b>Q4</b> & more'" in text and "&lt;b&gt;Q4&lt;/b&gt; &amp; more" in html and "<b>" not in html
    assert not any(sign in text + html for sign in STACK_SIGNS)


def test_an_internal_error_says_so_with_the_run_id_once_however_many_steps_fail(run, mail, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a cell value that must not leak")

    monkeypatch.setattr("export_pipelines.run.ops.transform.shaped_schema", broken)

    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT], format="parquet", chunk_size=300)

    assert record.status == "FAILURE"
    failures = DagsterInstance.get().all_logs(record.run_id, of_type=DagsterEventType.STEP_FAILURE)
    assert len(failures) == 5  # one per chunk
    subject, text, html = the_failure_mail(mail)
    assert subject == "Your export of orders failed"
    assert "an internal error; operators have been told; try again later" in text and record.run_id in text
    assert "cell value" not in text + html and "KeyError" not in text + html


def test_a_step_that_is_retried_and_succeeds_sends_no_failure_mail(run, mail, monkeypatch):
    from export_pipelines.run.ops import transform

    real, calls = transform.shaped_schema, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise TransientSourceError("connection reset; retry")
        return real(*args, **kwargs)

    monkeypatch.setattr(transform, "shaped_schema", flaky)

    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT], format="parquet")

    assert record.status == "SUCCESS", record.error
    (message,) = mail.messages
    assert "is ready" in message["Subject"]


def test_recipients_the_gate_would_refuse_are_never_mailed(run, mail, monkeypatch):
    monkeypatch.setenv("EXPORT_MAX_ROWS", "10")
    monkeypatch.setenv("EXPORT_RECIPIENT_DOMAINS", "example.org")

    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "FAILURE" and mail.envelopes == []


def test_one_run_is_claimed_once_across_threads(dagster_home):
    instance = DagsterInstance.get()
    results, barrier = [], threading.Barrier(8)

    def claim(step: int):
        barrier.wait()
        results.append(claim_failure_mail(instance, "run-1", f"step-{step}"))

    threads = [threading.Thread(target=claim, args=(step,)) for step in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert claim_failure_mail(instance, "run-2", "step") is True


def test_a_run_the_gate_never_admitted_mails_nobody(export_env, mail):
    """Its recipients were typed by whoever made the run: the failure of an unadmitted run is not mailed."""
    from export_pipelines.request.model import ExportRequest
    from export_pipelines.run.jobs import export_job

    request = ExportRequest(user="admin", dataset="orders", recipients=[RECIPIENT])
    result = export_job.execute_in_process(
        run_config=request.run_config(), instance=DagsterInstance.get(), raise_on_error=False
    )

    assert not result.success
    assert mail.envelopes == []

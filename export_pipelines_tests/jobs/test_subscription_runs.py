"""A subscription's run, for real (export_job on SQLite, a real SMTP server): its mail names the subscription,
and with ``skip_if_empty`` a tick without rows makes no file and sends no mail, while the run says why."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance

from export_pipelines.automation.launch import run_export
from export_pipelines.request.model import TAG_SKIP_IF_EMPTY, TAG_SKIPPED, TAG_SUBSCRIPTION, ExportRequest

RECIPIENT = "ana@example.com"
NOTHING = "amount < 0"  # no order has a negative amount


@pytest.fixture
def source_url(sqlite_source):
    return sqlite_source


@pytest.fixture
def mail(export_env, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    return smtp_server


def tick(where: str | None, skip_if_empty: bool):
    request = ExportRequest(user="admin", dataset="orders", recipients=[RECIPIENT], where=where)
    tags = {TAG_SUBSCRIPTION: "nightly_orders", **({TAG_SKIP_IF_EMPTY: "true"} if skip_if_empty else {})}
    record, _ = run_export(request, DagsterInstance.get(), extra_tags=tags)
    return record, DagsterInstance.get().get_run_by_id(record.run_id)


def test_the_mail_of_a_subscription_names_it(mail):
    record, run = tick(None, skip_if_empty=True)

    assert record.status == "SUCCESS" and record.rows > 0, record.error
    assert TAG_SKIPPED not in run.tags
    message = mail.messages[0]
    assert "subscription nightly_orders" in message["Subject"]
    assert "Sent by your subscription 'nightly_orders'" in message.get_body(("plain",)).get_content()


def test_an_empty_tick_of_a_subscription_that_skips_empty_exports_makes_no_file_and_no_mail(mail, export_env):
    record, run = tick(NOTHING, skip_if_empty=True)

    assert record.status == "SUCCESS", record.error
    assert record.file_key is None and mail.messages == []
    assert "no rows" in run.tags[TAG_SKIPPED] and "skip_if_empty" in run.tags[TAG_SKIPPED]
    assert not [path for path in (export_env / "exports").rglob("*") if path.is_file()]  # no file, no staging left


def test_an_empty_tick_without_skip_if_empty_still_sends_its_empty_file(mail):
    record, run = tick(NOTHING, skip_if_empty=False)

    assert record.status == "SUCCESS" and record.rows == 0 and record.file_key
    assert len(mail.messages) == 1 and TAG_SKIPPED not in run.tags

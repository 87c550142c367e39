"""SMTP failing under a real export: a connection dropped mid-DATA, a 451 then a 250, a server that keeps deferring.

The mail arrives exactly once after a retry, or lands in the outbox with the reason; the export
succeeds either way. The server is a real aiosmtpd one; the drop is a TCP proxy cutting the client
off halfway through the message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from export_pipelines_tests.faults.conftest import attempts, step_metadata

RECIPIENT = "ana@example.com"
REQUEST = {"user": "admin", "dataset": "orders", "format": "csv", "recipients": [RECIPIENT]}


@pytest.fixture
def source_url(sqlite_source):
    return sqlite_source


def point_at(monkeypatch, host: str, port: int) -> None:
    monkeypatch.setenv("SMTP_HOST", host)
    monkeypatch.setenv("SMTP_PORT", str(port))


def test_a_connection_dropped_mid_data_is_retried_and_the_mail_arrives_once(run, smtp_server, tcp_proxy, monkeypatch):
    proxy = tcp_proxy(smtp_server.host, smtp_server.port)
    point_at(monkeypatch, "127.0.0.1", proxy.port)
    proxy.cut_after(1_500, "up")  # past EHLO, MAIL, RCPT and DATA: halfway through the message

    record, _ = run(**REQUEST)

    assert record.status == "SUCCESS", record.error
    assert proxy.cuts == 1
    assert attempts(record.run_id, "notify_recipients") == 2
    (message,) = smtp_server.messages
    assert record.run_id in message.get_body(("plain",)).get_content()
    assert step_metadata(record.run_id, "notify_recipients")["channel"] == "smtp"


def test_a_451_then_a_250_delivers_once_after_a_retry(run, smtp_server, monkeypatch):
    point_at(monkeypatch, smtp_server.host, smtp_server.port)
    smtp_server.fail_next_messages(1, code=451, text="4.3.0 mailbox busy, try again later")

    record, _ = run(**REQUEST)

    assert record.status == "SUCCESS", record.error
    assert attempts(record.run_id, "notify_recipients") == 2
    assert len(smtp_server.messages) == 1
    assert step_metadata(record.run_id, "notify_recipients")["channel"] == "smtp"


def test_a_server_that_keeps_deferring_leaves_the_mail_in_the_outbox_with_the_reason(run, smtp_server, monkeypatch):
    point_at(monkeypatch, smtp_server.host, smtp_server.port)
    smtp_server.fail_next_messages(10, code=451, text="4.3.0 mailbox busy, try again later")

    record, _ = run(**REQUEST)

    assert record.status == "SUCCESS", record.error
    assert attempts(record.run_id, "notify_recipients") == 4  # the first try and 3 retries
    assert smtp_server.messages == []
    outcome = step_metadata(record.run_id, "notify_recipients")
    assert outcome["channel"] == "outbox" and "451" in outcome["reason"]
    assert Path(outcome["destination"]).read_bytes().count(RECIPIENT.encode()) >= 1

"""Withheld rows: the user learns that rows were withheld (and, if the deployment allows, a coarse band),
never how many; the exact count stays in run history for the audit.

With filters, an exact count of the rows hidden from a user would let them binary-search other
tenants' data one question at a time. Real runs of export_job on SQLite with a real SMTP server.
"""

from __future__ import annotations

import re

import pytest
from dagster import DagsterEventType, DagsterInstance

from export_pipelines.errors import SettingsError
from export_pipelines.request.withheld import WITHHELD_DETAIL_ENV, coarse_band, withheld_detail, withheld_rows

RECIPIENT = "ana@example.com"


@pytest.fixture
def source_url(sqlite_source):
    return sqlite_source


@pytest.fixture
def mail(smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    return smtp_server


def hidden_count(source_rows) -> int:
    return sum(row["tenant_id"] not in source_rows["analyst_tenants"] for row in source_rows["rows"])


def what_the_user_reads(message, record) -> str:
    """Subject and both bodies, minus the values that are digits by nature (checksum, run id, link)."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    everything = "\n".join([message["Subject"], text, html])
    for opaque in (record.sha256, record.run_id, record.file_key):
        everything = everything.replace(opaque, "")
    return re.sub(r"\S*/d/[\w.-]+", "", everything)  # the download link: its token is random text


def mentions(count: int, text: str) -> bool:
    return any(re.search(rf"(?<![\d,]){re.escape(form)}(?![\d,])", text) for form in (str(count), f"{count:,}"))


def step_metadata(run_id: str, step: str) -> dict:
    found = {}
    for entry in DagsterInstance.get().all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT):
        if entry.dagster_event.step_key == step:
            found |= {k: getattr(v, "value", v) for k, v in entry.dagster_event.event_specific_data.metadata.items()}
    return found


def run_logs(run_id: str) -> str:
    return "\n".join(entry.user_message for entry in DagsterInstance.get().all_logs(run_id))


def test_the_email_says_rows_were_withheld_but_not_how_many(run, mail, source_rows):
    hidden = hidden_count(source_rows)

    record, _ = run(user="analyst", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "SUCCESS", record.error
    (message,) = mail.messages
    read = what_the_user_reads(message, record)
    assert "partial export" in message["Subject"] and "withheld" in message["Subject"]
    assert "withheld because your permissions do not cover them" in " ".join(read.split())
    assert not mentions(hidden, read), f"the exact count {hidden} reached the user"
    assert record.skipped_rows == hidden  # the audit keeps the exact figure
    validated = step_metadata(record.run_id, "validate_request")
    assert validated["skipped_rows"] == hidden and validated["rows_withheld"] is True
    assert "rows_withheld_band" not in validated
    notified = step_metadata(record.run_id, "notify_recipients")
    assert notified["rows_withheld"] is True and "skipped_rows" not in notified
    assert not mentions(hidden, run_logs(record.run_id).replace(record.run_id, ""))  # verbose CLI prints it


def test_the_coarse_setting_gives_the_band(run, mail, source_rows, monkeypatch):
    monkeypatch.setenv(WITHHELD_DETAIL_ENV, "coarse")
    hidden = hidden_count(source_rows)
    band = coarse_band(hidden)

    record, _ = run(user="analyst", dataset="orders", recipients=[RECIPIENT])

    assert record.status == "SUCCESS", record.error
    (message,) = mail.messages
    read = what_the_user_reads(message, record)
    assert f"{band} withheld" in message["Subject"]
    assert f"{band} rows matched your filters but were withheld" in " ".join(read.split())
    assert not mentions(hidden, read)
    assert record.skipped_rows == hidden
    assert step_metadata(record.run_id, "validate_request")["rows_withheld_band"] == band


def test_nothing_withheld_says_nothing(run, mail):
    record, _ = run(user="admin", dataset="orders", recipients=[RECIPIENT])

    (message,) = mail.messages
    assert "withheld" not in what_the_user_reads(message, record).lower()
    assert step_metadata(record.run_id, "validate_request")["rows_withheld"] is False


def test_an_unknown_detail_setting_fails_the_run_at_the_gate(run, monkeypatch):
    monkeypatch.setenv(WITHHELD_DETAIL_ENV, "exact")

    record, location = run(user="analyst", dataset="orders")

    assert record.status == "FAILURE" and location is None
    assert record.error.startswith("validate_request") and WITHHELD_DETAIL_ENV in record.error
    assert "none, coarse" in record.error


@pytest.mark.parametrize(
    ("count", "band"),
    [(1, "fewer than 10"), (9, "fewer than 10"), (10, "10–99"), (99, "10–99"), (100, "100–999"),
     (999, "100–999"), (1000, "1,000 or more"), (10**7, "1,000 or more")],
)  # fmt: skip
def test_bands(count, band):
    assert coarse_band(count) == band
    assert withheld_rows(count, "coarse") == (True, band)
    assert withheld_rows(count, "none") == (True, None)


def test_no_withheld_rows_has_no_band():
    assert withheld_rows(0, "coarse") == (False, None)


def test_the_setting_defaults_to_none_and_refuses_what_it_does_not_know():
    assert withheld_detail({}) == "none"
    assert withheld_detail({WITHHELD_DETAIL_ENV: " Coarse "}) == "coarse"
    with pytest.raises(SettingsError, match=f"{WITHHELD_DETAIL_ENV}='exact'.*none, coarse"):
        withheld_detail({WITHHELD_DETAIL_ENV: "exact"})

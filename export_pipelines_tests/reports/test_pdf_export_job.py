"""A PDF export end to end: ``run_export`` on a seeded SQLite source, the file read back with pypdf."""

from __future__ import annotations

import re

import pytest
from dagster import DagsterEventType, DagsterInstance
from pypdf import PdfReader

from export_pipelines.demo.seed import seed_demo
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.exported import run_decrypted


@pytest.fixture(scope="module")
def small_source(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('pdf_source') / 'demo.sqlite'}"
    seed_demo(url, rows=300)
    return url


@pytest.fixture
def export_env(small_source, dagster_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", small_source)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_CATALOG_PATH", "EXPORT_MAX_ROWS"):
        monkeypatch.delenv(name, raising=False)


def test_pdf_export_runs_end_to_end(export_env, tmp_path):
    request = ExportRequest(
        user="admin", dataset="orders", format="pdf", title="Paid and shipped orders",
        filters=[{"column": "status", "op": "in", "value": ["paid", "shipped"]}],
        timezone="Europe/Berlin", chunk_size=40,
    )  # fmt: skip

    record, location = run_decrypted(request, DagsterInstance.get(), tmp_path, log_level="CRITICAL")

    assert record.status == "SUCCESS", record.error
    assert location.endswith(".pdf")
    pages = [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(location).pages]
    assert "Paid and shipped orders" in pages[0] and f"Rows: {record.rows:,}" in pages[0]
    assert "Filter: status in paid, shipped" in pages[0]
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text and f"Export {record.run_id}" in text
        assert "Order ID" in text
    body = " ".join(pages)
    assert "cancelled" not in body and "pending" not in body


def test_a_bad_template_fails_the_run_at_validation(export_env, tmp_path):
    request = ExportRequest(user="admin", dataset="orders", format="pdf", format_options={"template": "nope"})

    instance = DagsterInstance.get()
    record, location = run_decrypted(request, instance, tmp_path, log_level="CRITICAL")

    assert record.status == "FAILURE" and location is None
    assert "format_options.template: no template named 'nope'" in record.error
    failed = {entry.dagster_event.step_key for entry in instance.all_logs(record.run_id)
              if entry.dagster_event and entry.dagster_event.event_type == DagsterEventType.STEP_FAILURE}
    assert failed == {"validate_request"}, "refused before a row is read"

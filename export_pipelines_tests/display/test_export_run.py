"""Display rules through a real export run (SQLite demo data, several chunks): the plan carries them to
the chunks CSV encodes where they are read and to the workbook rendered at the end."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.exported import run_decrypted

RULES = {
    "locale": "de-DE",
    "formats": {"amount": {"number": "currency", "currency": "EUR"}, "created_at": {"datetime": "dd.MM.yyyy"}},
    "highlight": [{"when": "amount > 1000 and status in (paid, shipped)", "bold": True, "color": "#C00000"}],
}  # fmt: skip


@pytest.fixture
def export_env(sqlite_url, dagster_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXPORT_STORAGE_URL", raising=False)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    with sa.create_engine(sqlite_url).connect() as connection:
        return [Decimal(str(v)) for v in connection.execute(sa.text("SELECT amount FROM orders ORDER BY order_id"))
                .scalars()]  # fmt: skip


def _export(tmp_path, **fields):
    request = ExportRequest(user="admin", dataset="orders", columns=["order_id", "status", "amount", "created_at"],
                            chunk_size=128, timezone="Europe/Berlin", **RULES, **fields)  # fmt: skip
    record, path = run_decrypted(request, DagsterInstance.get(), tmp_path)
    assert record.status == "SUCCESS", record.error
    return Path(path)


def test_formatted_csv_from_a_run(export_env, tmp_path):
    rows = list(csv.DictReader(_export(tmp_path, format="csv", formatted=True).open(encoding="utf-8")))

    shown = [row["Amount"] for row in rows]
    assert all(text.endswith("\xa0€") for text in shown)
    assert [Decimal(t.removesuffix("\xa0€").replace(".", "").replace(",", ".")) for t in shown] == export_env
    assert all(len(row["Created at"]) == 10 and row["Created at"][2] == "." for row in rows)


def test_xlsx_from_a_run_keeps_numbers_and_carries_the_highlight(export_env, tmp_path):
    sheet = openpyxl.load_workbook(_export(tmp_path, format="xlsx")).worksheets[0]

    amounts = [row[2] for row in sheet.iter_rows(min_row=2)]
    assert [Decimal(str(cell.value)) for cell in amounts] == export_env
    assert amounts[0].number_format == '#,##0.00"\xa0€";"-"#,##0.00"\xa0€"'
    [rules] = [rng.rules for rng in sheet.conditional_formatting]
    assert rules[0].formula == [
        'AND(AND(NOT(ISBLANK($C2)),$C2>1000),AND(NOT(ISBLANK($B2)),OR(EXACT($B2,"paid"),EXACT($B2,"shipped"))))'
    ]

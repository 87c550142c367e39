"""CSV, JSON and JSON Lines keep raw values by default and write the display text with ``formatted: true``;
Parquet ignores display rules."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pyarrow.parquet as pq
import pytest

from export_pipelines.errors import ExportRequestError
from export_pipelines_tests.display.rendered import RULES, display_for, render_with
from export_pipelines_tests.formats.samples import ROWS

RAW_AMOUNTS = ["1234.50", "0.00", "9999999.99", "0.01"]


def _csv(**fields) -> list[dict]:
    return list(csv.DictReader(io.StringIO(render_with("csv", **fields).decode("utf-8"))))


def test_csv_keeps_raw_values_by_default_but_takes_the_labels():
    rows = _csv(**RULES)

    assert [row["Betrag"] for row in rows] == RAW_AMOUNTS
    assert rows[0]["Created at"] == "2024-01-15T13:00:00.000000+01:00"


def test_formatted_csv_writes_the_display_text():
    rows = _csv(**RULES, formatted=True)

    assert [row["Betrag"] for row in rows] == ["1.234,50\xa0€", "0,00\xa0€", "9.999.999,99\xa0€", "0,01\xa0€"]
    assert [row["Created at"] for row in rows] == ["15.01.2024 13:00", "01.07.2024 10:30", "27.10.2024 02:30",
                                                   "31.03.2024 03:30"]  # fmt: skip
    assert [row["Shipped on"] for row in rows] == ["20. Januar 2024", "offen", "28. Oktober 2024", "offen"]
    assert [row["Discount rate"] for row in rows] == ["12,5\xa0%", "", "0,0\xa0%", "10,0\xa0%"]
    assert [row["Order ID"] for row in rows] == ["1", "2", "3", "4"]  # integers are identifiers: plain digits
    assert rows[3]["Customer"] == "'=1+2"  # the formula guard still guards the exported text


def test_a_locale_alone_formats_decimals_and_dates_in_its_own_way():
    rows = _csv(locale="fr-FR", formatted=True, columns=["amount", "shipped_on", "quantity"])

    assert [row["Amount"] for row in rows] == ["1\u202f234,50", "0,00", "9\u202f999\u202f999,99", "0,01"]
    assert [row["Shipped on"] for row in rows] == ["20 janv. 2024", "", "28 oct. 2024", ""]
    assert [row["Quantity"] for row in rows] == ["2", "1", "500", "3"]


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_json_keeps_raw_values_unless_formatted(format_name):
    def objects(data: bytes) -> list[dict]:
        return json.loads(data) if format_name == "json" else [json.loads(line) for line in data.splitlines()]

    raw = objects(render_with(format_name, **RULES))
    shown = objects(render_with(format_name, **RULES, formatted=True))

    assert [row["amount"] for row in raw] == RAW_AMOUNTS and raw[1]["shipped_on"] is None
    assert [row["amount"] for row in shown] == ["1.234,50\xa0€", "0,00\xa0€", "9.999.999,99\xa0€", "0,01\xa0€"]
    assert shown[1]["shipped_on"] == "offen" and shown[0]["created_at"] == "15.01.2024 13:00"
    assert shown[0]["order_id"] == 1 and shown[0]["is_paid"] is True  # unformatted columns keep their JSON types


def test_parquet_keeps_types_and_ignores_display_rules():
    table = pq.read_table(io.BytesIO(render_with("parquet", **RULES)))

    assert table.column("amount").to_pylist() == [row["amount"] for row in ROWS]
    assert table.schema.field("amount").type.scale == 2


def test_formatted_with_quoting_none_is_refused():
    with pytest.raises(ExportRequestError) as refused:
        display_for("csv", formatted=True, format_options={"quoting": "none"})
    assert str(refused.value).startswith("formatted: display text can hold the delimiter")


def test_thousands_false_drops_the_digit_groups_in_text_and_in_excel():
    rows = _csv(locale="en-US", formatted=True, formats={"amount": {"number": "decimal", "thousands": False}})

    assert [row["Amount"] for row in rows] == ["1234.50", "0.00", "9999999.99", "0.01"]
    sheet = openpyxl.load_workbook(io.BytesIO(render_with("xlsx", formats={"amount": {"thousands": False}}))).active
    assert {row[5].number_format for row in sheet.iter_rows(min_row=2)} == {"0.00"}

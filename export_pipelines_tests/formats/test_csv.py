"""CSV read back with the standard library's csv module: headers, quoting, NULL versus ''."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from export_pipelines.catalog import ColumnSpec
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines_tests.formats.samples import LABELS, NAMES, OFFSETS, ROWS, chunks, render, shaped_table


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_header_is_labels_and_values_round_trip(tmp_path):
    header, *records = read_csv(render(tmp_path, "csv", chunks(2)))

    assert header == LABELS
    assert len(records) == len(ROWS)
    by_name = [dict(zip(NAMES, record)) for record in records]
    for row, record, offset in zip(ROWS, by_name, OFFSETS):
        assert record["order_id"] == str(row["order_id"])
        assert record["customer_name"] == row["customer_name"]  # commas, quotes, newlines, non-ASCII
        assert record["amount"] == str(row["amount"])  # exact: 1234.50, 0.00, never 1234.5
        assert record["is_paid"] == ("true" if row["is_paid"] else "false")
        assert record["shipped_on"] == (row["shipped_on"].isoformat() if row["shipped_on"] else "")
        discount = row["discount_rate"]
        if discount is None:
            assert record["discount_rate"] == ""
        else:
            assert float(record["discount_rate"]) == discount
        assert record["note"] == (row["note"] or "")
        created = datetime.fromisoformat(record["created_at"])
        assert created == row["created_at"] and record["created_at"].endswith(offset)


def test_header_style_name_writes_column_names(tmp_path):
    header, *records = read_csv(render(tmp_path, "csv", chunks(2), options={"header_style": "name"}))

    assert header == NAMES and len(records) == len(ROWS)


def test_header_false_writes_data_only(tmp_path):
    records = read_csv(render(tmp_path, "csv", chunks(2), options={"header": False}))

    assert [record[0] for record in records] == [str(row["order_id"]) for row in ROWS]


def test_empty_string_and_null_differ_in_the_text(tmp_path):
    columns = (ColumnSpec("order_id", "integer", "Order ID"), ColumnSpec("note", "string", "Note"))
    rows = [{"order_id": 1, "note": None}, {"order_id": 2, "note": ""}, {"order_id": 3, "note": "x"}]

    text = render(tmp_path, "csv", [shaped_table(rows, columns)], columns=columns).decode("utf-8")

    assert text.splitlines() == ['"Order ID","Note"', "1,", '2,""', '3,"x"']


def test_embedded_line_breaks_stay_inside_quotes(tmp_path):
    text = render(tmp_path, "csv", chunks(2)).decode("utf-8")

    assert '"line one\r\nline two"' in text
    assert '"Müller, ""Hans""\nGmbH"' in text


def test_empty_export_is_a_header_row(tmp_path):
    assert read_csv(render(tmp_path, "csv", [])) == [LABELS]
    assert render(tmp_path, "csv", [], options={"header": False}) == b""


@pytest.mark.parametrize(("option", "value"), [("header_style", "title"), ("header", "maybe")])
def test_invalid_option_values_are_refused(option, value):
    with pytest.raises(ExportRequestError) as refused:
        renderer_class("csv").check_options({option: value})

    assert refused.value.field == f"format_options.{option}"
    assert repr(value) in str(refused.value)

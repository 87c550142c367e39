"""JSON and JSON Lines read back with json.loads: types, exact decimals, offsets, NULL versus ''."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from export_pipelines.catalog import ColumnSpec
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines_tests.formats.samples import NAMES, OFFSETS, ROWS, chunks, render, shaped_table


def check_record(record: dict, row: dict, offset: str) -> None:
    assert list(record) == NAMES
    for name in ("order_id", "customer_id", "quantity", "customer_name", "status", "note", "is_paid"):
        assert record[name] == row[name] and type(record[name]) is type(row[name])
    assert record["discount_rate"] == row["discount_rate"]
    assert record["shipped_on"] == (row["shipped_on"].isoformat() if row["shipped_on"] else None)
    assert record["amount"] == str(row["amount"])  # a string, exact to the cent: "1234.50", "0.00"
    assert record["created_at"].endswith(offset)
    assert datetime.fromisoformat(record["created_at"]) == row["created_at"]


def test_json_is_one_array_of_typed_objects(tmp_path):
    data = render(tmp_path, "json", chunks(2))

    records = json.loads(data)

    assert isinstance(records, list) and len(records) == len(ROWS)
    for record, row, offset in zip(records, ROWS, OFFSETS):
        check_record(record, row, offset)
    assert "Zoë Ångström 李小龙 🚀".encode() in data, "non-ASCII is written as UTF-8, not escaped"


def test_jsonl_is_one_object_per_line(tmp_path):
    data = render(tmp_path, "jsonl", chunks(2))

    lines = data.decode("utf-8").split("\n")

    assert lines[-1] == "" and len(lines) == len(ROWS) + 1, "one line per row, each ended by a newline"
    records = [json.loads(line) for line in lines[:-1]]
    for record, row, offset in zip(records, ROWS, OFFSETS):
        check_record(record, row, offset)
    assert records == json.loads(render(tmp_path, "json", chunks(2)))


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_decimals_as_numbers_when_asked(tmp_path, format_name):
    data = render(tmp_path, format_name, chunks(2), options={"decimals": "number"})
    text = data.decode("utf-8")
    records = json.loads(text) if format_name == "json" else [json.loads(line) for line in text.splitlines()]

    amounts = [record["amount"] for record in records]
    assert all(isinstance(amount, (int, float)) for amount in amounts)
    assert [Decimal(str(amount)) for amount in amounts] == [row["amount"] for row in ROWS]


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_non_finite_floats_become_null(tmp_path, format_name):
    columns = (ColumnSpec("order_id", "integer", "Order ID"), ColumnSpec("discount_rate", "float", "Discount"))
    values = [float("nan"), float("inf"), float("-inf"), 0.5]
    rows = [{"order_id": i, "discount_rate": value} for i, value in enumerate(values)]

    text = render(tmp_path, format_name, [shaped_table(rows, columns)], columns=columns).decode("utf-8")
    records = json.loads(text) if format_name == "json" else [json.loads(line) for line in text.splitlines()]

    assert [record["discount_rate"] for record in records] == [None, None, None, 0.5]


def test_empty_exports_parse(tmp_path):
    assert json.loads(render(tmp_path, "json", [])) == []
    assert render(tmp_path, "jsonl", []) == b""


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_invalid_decimals_option_is_refused(format_name):
    with pytest.raises(ExportRequestError) as refused:
        renderer_class(format_name).check_options({"decimals": "float"})

    assert refused.value.field == "format_options.decimals" and "string, number" in str(refused.value)

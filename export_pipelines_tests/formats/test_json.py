"""JSON and JSON Lines read back with json.loads: types, exact decimals, offsets, NULL versus ''."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from export_pipelines.datasets.catalog import ColumnSpec
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


def parse(format_name: str, data: bytes, **kwargs) -> list:
    text = data.decode("utf-8")
    if format_name == "json":
        return json.loads(text, **kwargs)
    # split("\n"), not splitlines(): JSON Lines ends lines with \n only, and U+2028 may stand raw in a value.
    return [json.loads(line, **kwargs) for line in text.split("\n")[:-1]]


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_decimal_numbers_are_exact_digits_not_floats(tmp_path, format_name):
    columns = (ColumnSpec("order_id", "integer", "Order ID"), ColumnSpec("amount", "decimal", "Amount", 38, 10))
    values = [Decimal("1234567890123456789012345678.0123456789"), Decimal("-0.0000000001"), Decimal("1234.5000000000"),
              None]  # fmt: skip
    rows = [{"order_id": i, "amount": value} for i, value in enumerate(values)]

    data = render(tmp_path, format_name, [shaped_table(rows, columns)], columns=columns, options={"decimals": "number"})

    assert b'"amount":1234567890123456789012345678.0123456789' in data, "the decimal's own digits, unquoted"
    assert b'"amount":1234.5000000000' in data and b'"amount":null' in data
    assert [record["amount"] for record in parse(format_name, data, parse_float=Decimal)] == values
    as_strings = render(tmp_path, format_name, [shaped_table(rows, columns)], columns=columns)
    assert [record["amount"] for record in parse(format_name, as_strings)] == [
        None if value is None else str(value) for value in values
    ]


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_every_object_is_what_json_dumps_writes(tmp_path, format_name):
    """Values are turned into JSON text column by column; the objects must still be json.dumps's, byte for byte."""
    columns = (ColumnSpec("order_id", "integer", "Order ID"), ColumnSpec("note", "string", "Note"),
               ColumnSpec("discount_rate", "float", "Discount"))  # fmt: skip
    notes = ['say "hi"', "back\\slash", "tab\there", "nul\x00 and \x1f", "line\u2028separator", "del\x7f", "é 李 🚀",
             "</script>", "", None, "plain"]  # fmt: skip
    rates = [2.0, 1e20, 1e-07, 0.1, -0.0, 123456789.125, 5e-324, 1.7976931348623157e308, None, 0.5, 3.0]
    rows = [{"order_id": i, "note": note, "discount_rate": rate} for i, (note, rate) in enumerate(zip(notes, rates))]

    data = render(tmp_path, format_name, [shaped_table(rows, columns)], columns=columns)

    expected = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows]
    if format_name == "json":
        assert data.decode("utf-8") == "[\n" + ",\n".join(expected) + "\n]\n"
    else:
        assert data.decode("utf-8") == "".join(line + "\n" for line in expected)
    records = parse(format_name, data)
    assert [record["note"] for record in records] == notes
    assert all(type(r["discount_rate"]) is float for r in records if r["discount_rate"] is not None), "2.0 stays 2.0"


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_a_chunk_larger_than_a_text_block_is_joined_seamlessly(tmp_path, format_name):
    from export_pipelines.formats.parallel import BLOCK_ROWS

    columns = (ColumnSpec("order_id", "integer", "Order ID"), ColumnSpec("note", "string", "Note"))
    count = BLOCK_ROWS * 2 + 3
    table = shaped_table([{"order_id": i, "note": f"n{i}"} for i in range(count)], columns)

    data = render(tmp_path, format_name, [table], columns=columns)

    records = parse(format_name, data)
    assert [record["order_id"] for record in records] == list(range(count))
    assert records[BLOCK_ROWS] == {"order_id": BLOCK_ROWS, "note": f"n{BLOCK_ROWS}"}

"""CSV read back with the standard library's csv module: headers, quoting, NULL versus ''."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines_tests.formats.samples import LABELS, NAMES, OFFSETS, ROWS, chunks, render, shaped_table


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def guarded(text: str | None) -> str | None:
    """What the formula guard writes for ``text``."""
    return "'" + text if text and text[0] in "=+-@\t\r" else text


def test_header_is_labels_and_values_round_trip(tmp_path):
    header, *records = read_csv(render(tmp_path, "csv", chunks(2)))

    assert header == LABELS
    assert len(records) == len(ROWS)
    by_name = [dict(zip(NAMES, record)) for record in records]
    for row, record, offset in zip(ROWS, by_name, OFFSETS):
        assert record["order_id"] == str(row["order_id"])
        # commas, quotes, newlines, non-ASCII; "=1+2" gets the formula guard's quote (on by default)
        assert record["customer_name"] == guarded(row["customer_name"])
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


# ---- options -------------------------------------------------------------------------------------

TEXT_COLUMNS = (ColumnSpec("order_id", "integer", "Order ID"), ColumnSpec("note", "string", "Note"))


def text_table(*notes):
    return shaped_table([{"order_id": i + 1, "note": n} for i, n in enumerate(notes)], TEXT_COLUMNS)


def expected_record(row: dict, formula_guard: bool = True) -> dict:
    """What csv.reader gives back for ``row``, value by value (timestamps and floats compared apart)."""
    text = {name: "" if value is None else str(value) for name, value in row.items() if name != "created_at"}
    text["is_paid"] = "true" if row["is_paid"] else "false"
    text["customer_name"] = guarded(row["customer_name"]) if formula_guard else row["customer_name"]
    text["note"] = (guarded(row["note"]) if formula_guard else row["note"]) or ""
    return text


def check_round_trip(records: list[list[str]], formula_guard: bool = True) -> None:
    assert len(records) == len(ROWS)
    for record, row, offset in zip(records, ROWS, OFFSETS):
        values = dict(zip(NAMES, record))
        created = values.pop("created_at")
        assert datetime.fromisoformat(created) == row["created_at"] and created.endswith(offset)
        expected = expected_record(row, formula_guard)
        if row["discount_rate"] is not None:
            assert float(values.pop("discount_rate")) == row["discount_rate"]
            expected.pop("discount_rate")
        assert values == expected


DIALECT_CASES = {
    "semicolon": ({"delimiter": ";"}, {"delimiter": ";"}),
    "tab": ({"delimiter": "\t"}, {"delimiter": "\t"}),
    "pipe-all-quoted": ({"delimiter": "|", "quoting": "all"}, {"delimiter": "|"}),
    "minimal": ({"quoting": "minimal"}, {}),
    "minimal-semicolon-crlf": ({"quoting": "minimal", "delimiter": ";", "line_ending": "crlf"}, {"delimiter": ";"}),
    "crlf": ({"line_ending": "crlf"}, {}),
    "bom": ({"bom": True}, {}),
    "utf-16": ({"encoding": "utf-16"}, {}),
}


@pytest.mark.parametrize("case", list(DIALECT_CASES))
def test_each_option_round_trips_through_the_csv_module(tmp_path, case):
    options, dialect = DIALECT_CASES[case]
    data = render(tmp_path, "csv", chunks(2), options=options)
    encoding = {"utf-16": "utf-16", "utf-8": "utf-8-sig"}[options.get("encoding", "utf-8")]

    header, *records = list(csv.reader(io.StringIO(data.decode(encoding), newline=""), **dialect))

    assert header == LABELS
    check_round_trip(records)


@pytest.mark.parametrize(
    "options", [{"quoting": "minimal"}, {"encoding": "cp1252", "encoding_errors": "replace"}, {"encoding": "utf-16"}]
)
def test_chunk_boundaries_do_not_show_with_options(tmp_path, options):
    one_row_each = chunks(1, 2, 3)
    with_empty = one_row_each[:2] + [shaped_table([])] + one_row_each[2:]

    assert render(tmp_path, "csv", with_empty, options=options) == render(tmp_path, "csv", chunks(), options=options)


def test_minimal_quoting_writes_the_same_values_as_arrow(tmp_path):
    arrow = read_csv(render(tmp_path, "csv", chunks(2)))
    stdlib = read_csv(render(tmp_path, "csv", chunks(2), options={"quoting": "minimal"}))

    assert stdlib == arrow


@pytest.mark.parametrize(
    ("quoting", "lines"),
    [
        ("needed", ['"Order ID","Note"', "1,", '2,""', '3,"x"', '4,"a;b"']),
        ("all", ['"Order ID","Note"', '"1",', '"2",""', '"3","x"', '"4","a;b"']),
        ("minimal", ["Order ID,Note", "1,", "2,", "3,x", "4,a;b"]),
        ("none", ["Order ID,Note", "1,", "2,", "3,x", "4,a;b"]),
    ],
)
def test_quoting_styles(tmp_path, quoting, lines):
    table = text_table(None, "", "x", "a;b")
    data = render(tmp_path, "csv", [table], options={"quoting": quoting}, columns=TEXT_COLUMNS)

    assert data.decode("utf-8").split("\n") == [*lines, ""]


def test_minimal_quotes_only_what_needs_it(tmp_path):
    table = text_table("a;b", 'say "hi"', "two\nlines", "plain")
    data = render(tmp_path, "csv", [table], options={"quoting": "minimal", "delimiter": ";"}, columns=TEXT_COLUMNS)

    assert data.decode("utf-8") == 'Order ID;Note\n1;"a;b"\n2;"say ""hi"""\n3;"two\nlines"\n4;plain\n'
    assert list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=";"))[1:] == [
        ["1", "a;b"], ["2", 'say "hi"'], ["3", "two\nlines"], ["4", "plain"],
    ]  # fmt: skip


def test_minimal_quotes_a_bare_carriage_return(tmp_path):
    """Python 3.11's csv module leaves a CR unquoted when rows end with LF; a reader would split the row there."""
    data = render(tmp_path, "csv", [text_table("a\rb", "plain")], options={"quoting": "minimal"}, columns=TEXT_COLUMNS)

    assert data == b'Order ID,Note\n"1","a\rb"\n2,plain\n'
    assert read_csv(data)[1:] == [["1", "a\rb"], ["2", "plain"]]


@pytest.mark.parametrize("value", ["a,b", 'say "hi"', "two\nlines", "cr\rhere"])
def test_quoting_none_refuses_a_value_that_needs_quotes(tmp_path, value):
    table = text_table("fine", value)

    with pytest.raises(ExportRequestError) as refused:
        render(tmp_path, "csv", [text_table("ok"), table], options={"quoting": "none"}, columns=TEXT_COLUMNS)

    assert refused.value.field == "format_options.quoting"
    assert "row 3, column 'Note'" in str(refused.value) and "minimal" in str(refused.value)


def test_quoting_none_with_another_delimiter_allows_commas(tmp_path):
    data = render(
        tmp_path, "csv", [text_table("a,b")], options={"quoting": "none", "delimiter": "|"}, columns=TEXT_COLUMNS
    )

    assert data == b"Order ID|Note\n1|a,b\n"


def test_quoting_none_refuses_a_header_that_needs_quotes():
    columns = (ColumnSpec("amount", "decimal", "Amount, EUR"),)

    with pytest.raises(ExportRequestError) as refused:
        renderer_class("csv").check_columns(renderer_class("csv").check_options({"quoting": "none"}), columns)

    assert refused.value.field == "format_options.quoting" and "'Amount, EUR'" in str(refused.value)


def test_bom_bytes_present_only_when_asked(tmp_path):
    with_bom = render(tmp_path, "csv", chunks(2), options={"bom": True})
    without = render(tmp_path, "csv", chunks(2))

    assert with_bom.startswith(b'\xef\xbb\xbf"Order ID"') and with_bom[3:] == without
    assert not without.startswith(b"\xef\xbb\xbf")
    assert render(tmp_path, "csv", [], options={"bom": True, "header": False}) == b"\xef\xbb\xbf"


def test_utf16_starts_with_its_byte_order_mark(tmp_path):
    data = render(tmp_path, "csv", chunks(2), options={"encoding": "utf-16"})

    assert data.startswith(b'\xff\xfe"\x00O\x00')
    assert data[2:].decode("utf-16-le") == render(tmp_path, "csv", chunks(2)).decode("utf-8")


def test_crlf_ends_every_row_and_keeps_line_breaks_inside_values(tmp_path):
    text = render(tmp_path, "csv", chunks(2), options={"line_ending": "crlf"}).decode("utf-8")

    assert text.endswith('"He said ""urgent"", twice"\r\n')
    assert text.count("\r\n") == 1 + len(ROWS) + 1, "header, rows, and the CR LF inside row 3's note"
    assert '"line one\r\nline two"' in text and '"Müller, ""Hans""\nGmbH"' in text
    assert "\n" not in text.replace("\r\n", "").replace('"Müller, ""Hans""\nGmbH"', "")


def test_semicolon_delimiter_with_semicolons_in_values(tmp_path):
    table = text_table("O'Brien; Sons\tLtd", "a;b;c")
    data = render(tmp_path, "csv", [table], options={"delimiter": ";"}, columns=TEXT_COLUMNS)

    assert data.decode("utf-8") == '"Order ID";"Note"\n1;"O\'Brien; Sons\tLtd"\n2;"a;b;c"\n'
    assert list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=";"))[1:] == [
        ["1", "O'Brien; Sons\tLtd"], ["2", "a;b;c"],
    ]  # fmt: skip


FORMULA_LIKE = ["=1+2", '=HYPERLINK("http://evil.example","click")', "+49 Trading", "-5% agreed", "@sales",
                "\tTab", "\rCR", "plain", " =padded", "", None]  # fmt: skip


@pytest.mark.parametrize("quoting", ["needed", "minimal"])
@pytest.mark.parametrize("guard", [True, False])
def test_formula_guard(tmp_path, guard, quoting):
    options = {"formula_guard": guard, "quoting": quoting}
    data = render(tmp_path, "csv", [text_table(*FORMULA_LIKE)], options=options, columns=TEXT_COLUMNS)

    notes = [record[1] for record in read_csv(data)[1:]]

    expected = [(guarded(text) if guard else text) or "" for text in FORMULA_LIKE]
    assert notes == expected
    if guard:
        assert notes[:7] == ["'=1+2", "'=HYPERLINK(\"http://evil.example\",\"click\")", "'+49 Trading", "'-5% agreed",
                             "'@sales", "'\tTab", "'\rCR"]  # fmt: skip
    assert notes[7:] == ["plain", " =padded", "", ""]


def test_formula_guard_leaves_numbers_alone(tmp_path):
    columns = (ColumnSpec("quantity", "integer", "Quantity"), ColumnSpec("amount", "decimal", "Amount"))
    table = shaped_table([{"quantity": -3, "amount": Decimal("-1.50")}], columns)

    assert read_csv(render(tmp_path, "csv", [table], columns=columns))[1] == ["-3", "-1.50"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_text_the_encoding_cannot_hold_fails_naming_row_and_column(tmp_path, encoding):
    with pytest.raises(ExportRequestError) as refused:
        render(tmp_path, "csv", chunks(1), options={"encoding": encoding})

    error = refused.value
    assert error.field == "format_options.encoding"
    assert f"{encoding} cannot represent '李' (U+674E) in row 2, column 'Customer'" in str(error)
    assert "utf-8" in str(error) and "replace" in str(error)


@pytest.mark.parametrize("quoting", ["needed", "minimal"])
def test_replace_writes_a_question_mark_for_what_the_encoding_cannot_hold(tmp_path, quoting):
    options = {"encoding": "latin-1", "encoding_errors": "replace", "quoting": quoting}
    data = render(tmp_path, "csv", chunks(2), options=options)

    records = list(csv.reader(io.StringIO(data.decode("latin-1"), newline="")))
    assert records[2][3] == "Zoë Ångström ??? ?" and records[1][3] == 'Müller, "Hans"\nGmbH'
    assert "Zoë".encode("latin-1") in data


def test_cp1252_holds_the_euro_sign_latin1_does_not(tmp_path):
    table = text_table("5 €")

    cp1252 = render(tmp_path, "csv", [table], options={"encoding": "cp1252"}, columns=TEXT_COLUMNS)
    assert cp1252 == b'"Order ID","Note"\n1,"5 \x80"\n'
    with pytest.raises(ExportRequestError, match="row 1, column 'Note'"):
        render(tmp_path, "csv", [table], options={"encoding": "latin-1"}, columns=TEXT_COLUMNS)


@pytest.mark.parametrize(
    ("option", "value"),
    [("delimiter", '"'), ("delimiter", "\n"), ("delimiter", "\r"), ("delimiter", ";;"), ("delimiter", ""),
     ("delimiter", "a"), ("delimiter", "7"), ("delimiter", "."), ("delimiter", "-"), ("delimiter", 5),
     ("quoting", "some"), ("line_ending", "\r\n"), ("encoding", "utf-32"), ("encoding_errors", "ignore"),
     ("bom", "yes"), ("formula_guard", "off")],
)  # fmt: skip
def test_invalid_csv_option_values_are_refused(option, value):
    with pytest.raises(ExportRequestError) as refused:
        renderer_class("csv").check_options({option: value})

    assert refused.value.field == f"format_options.{option}"
    assert repr(value) in str(refused.value)


def test_a_byte_order_mark_in_latin1_is_refused():
    with pytest.raises(ExportRequestError) as refused:
        renderer_class("csv").check_options({"encoding": "latin-1", "bom": True})

    assert refused.value.field == "format_options.bom"

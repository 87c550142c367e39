"""Display rules in a workbook, read back with openpyxl: number formats on cells that stay numbers, real
conditional formats, labels and alignment; no rules, no change."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pytest

from export_pipelines.formats.xlsx_display import date_code, formula
from export_pipelines_tests.display.rendered import RULES, display_for, render_with
from export_pipelines_tests.formats.samples import COLUMNS, NAMES, ROWS


@pytest.fixture(scope="module")
def sheet():
    return openpyxl.load_workbook(io.BytesIO(render_with("xlsx", **RULES))).worksheets[0]


def _column(sheet, name):
    return [row[NAMES.index(name)] for row in sheet.iter_rows(min_row=2)]


def test_numbers_stay_numbers_with_the_rules_number_formats(sheet):
    amounts = _column(sheet, "amount")

    assert [cell.value for cell in amounts] == [float(row["amount"]) for row in ROWS]
    assert sum(cell.value for cell in amounts) == pytest.approx(float(sum(row["amount"] for row in ROWS)))
    assert {cell.number_format for cell in amounts} == {'#,##0.00"\xa0€";"-"#,##0.00"\xa0€"'}
    rates = [cell for cell in _column(sheet, "discount_rate") if cell.value is not None]
    assert [cell.value for cell in rates] == [0.125, 0.0, 0.1]
    assert {cell.number_format for cell in rates} == {'#,##0.0"\xa0"%'}


def test_dates_stay_dates_with_the_pattern_in_excels_words(sheet):
    created = _column(sheet, "created_at")
    shipped = [cell for cell in _column(sheet, "shipped_on") if cell.value is not None]

    assert all(isinstance(cell.value, datetime) for cell in created + shipped)
    assert {cell.number_format for cell in created} == {"dd.mm.yyyy hh:mm"}
    assert {cell.number_format for cell in shipped} == {"d. mmmm yyyy"}
    assert _column(sheet, "shipped_on")[1].value is None  # NULL stays empty: "offen" is for text formats


def test_labels_and_alignment(sheet):
    assert sheet.cell(1, NAMES.index("amount") + 1).value == "Betrag"
    assert {cell.alignment.horizontal for cell in _column(sheet, "status")} == {"center"}


def test_highlights_are_conditional_formats_over_the_data_rows(sheet):
    rules = {str(rng.sqref): rng.rules for rng in sheet.conditional_formatting}
    last = len(ROWS) + 1

    [amount_rule] = rules[f"A2:M{last}"]
    assert amount_rule.type == "expression" and amount_rule.formula == ["AND(NOT(ISBLANK($F2)),$F2>1000)"]
    assert amount_rule.dxf.font.b and amount_rule.dxf.font.color.rgb == "FFC00000"
    [status_rule] = rules[f"E2:E{last}"]
    assert status_rule.formula == ['AND(NOT(ISBLANK($E2)),OR(EXACT($E2,"pending"),EXACT($E2,"refunded")))']
    assert status_rule.dxf.fill.bgColor.rgb == "FFFFF2CC"
    assert amount_rule.priority < status_rule.priority


def test_without_rules_the_workbook_is_as_before(tmp_path):
    sheet = openpyxl.load_workbook(io.BytesIO(render_with("xlsx"))).worksheets[0]

    assert not list(sheet.conditional_formatting)
    assert _column(sheet, "amount")[0].number_format == "#,##0.00"
    assert sheet.cell(1, NAMES.index("amount") + 1).value == "Amount"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("note is null", "ISBLANK($M2)"),
        ("not (note eq '')", 'NOT(AND(NOT(ISBLANK($M2)),EXACT($M2,"")))'),
        ("status != paid", 'NOT(AND(NOT(ISBLANK($E2)),EXACT($E2,"paid")))'),
        ("customer_name contains 'a\"b'", 'AND(NOT(ISBLANK($D2)),ISNUMBER(FIND("a""b",$D2)))'),
        ("customer_name startswith Sm", 'AND(NOT(ISBLANK($D2)),EXACT(LEFT($D2,2),"Sm"))'),
        ("quantity between 2 and 3 or is_paid = true",
         "OR(AND(NOT(ISBLANK($H2)),$H2>=2,$H2<=3),AND(NOT(ISBLANK($J2)),$J2=TRUE))"),
        ("shipped_on >= 2024-01-20", "AND(NOT(ISBLANK($L2)),$L2>=45311)"),
        ("created_at < '2024-01-15T13:00:00+01:00'", "AND(NOT(ISBLANK($K2)),$K2<45306.54166666667)"),
    ],
)  # fmt: skip
def test_conditions_become_formulas_with_the_filters_meaning(when, expected):
    [highlight] = display_for("xlsx", highlight=[{"when": when, "bold": True}]).highlights

    assert formula(highlight.condition, COLUMNS, "Europe/Berlin") == "=" + expected


def test_cldr_patterns_in_excels_words():
    assert date_code("EEEE, d. MMM yy 'um' H:mm:ss.SSS a") == r"dddd, d. mmm yy \u\m\ h:mm:ss.000 AM/PM"

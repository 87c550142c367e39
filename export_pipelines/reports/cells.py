"""Cell text and totals for PDF reports, computed per column over a whole chunk (vectorised).

Values are written exactly as the export holds them: decimals with all their digits, timestamps
with their microseconds (when not zero) and the offset of the request's time zone, floats in
their shortest round-trip form. NULL is an empty cell. Display rules (a locale, a column's number or
date format, its NULL text) replace that text with what they say (``export_pipelines.display``).
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.styles import DisplayRules
from export_pipelines.display.text import column_formatter


def cell_texts(table: pa.Table, columns: tuple[ColumnSpec, ...], formatters: list | None = None) -> list[list[str]]:
    """One list of display strings per column, in column order; a column's formatter (display rules) wins."""
    formatters = formatters or [None] * len(columns)
    return [cell_text_array(table, c, convert).to_pylist() for c, convert in zip(columns, formatters)]


def cell_text_array(table: pa.Table, column: ColumnSpec, convert=None) -> pa.ChunkedArray:
    """One column's display strings as Arrow text, NULL as empty (``cell_texts`` without leaving Arrow)."""
    array = table.column(column.name)
    return pc.fill_null(convert(array), "") if convert else _display(array, column)


def report_formatters(columns: tuple[ColumnSpec, ...], display: DisplayRules) -> list:
    """The display rules' formatter of each column (None: the exact text below); booleans stay Yes and No."""
    formatters = []
    for column in columns:
        rule = display.rule(column.name)
        if column.type == "boolean":
            null = rule.null if rule is not None else None
            formatters.append(None if null is None else lambda array, c=column, n=null: pc.fill_null(_display(
                array, c, None), n))  # fmt: skip
        else:
            formatters.append(column_formatter(column.type, column.scale, rule, display.locale))
    return formatters


def _display(array: pa.ChunkedArray, column: ColumnSpec, null: str | None = "") -> pa.ChunkedArray:
    if column.type == "string":
        text = array
    elif column.type == "boolean":
        text = pc.if_else(array, "Yes", "No")
    elif column.type == "timestamp":
        text = pc.strftime(array, format="%Y-%m-%d %H:%M:%S%z")  # %S carries the fraction
        text = pc.replace_substring_regex(text, pattern=r"\.0{6}([+-])", replacement=r"\1")
        text = pc.replace_substring_regex(text, pattern=r"([+-]\d\d)(\d\d)$", replacement=r" \1:\2")
    else:  # integer, float, decimal, date: Arrow's own text is exact
        text = array.cast(pa.string())
    return text if null is None else pc.fill_null(text, null)


def timestamp_text(moment) -> str:
    """A Python datetime in the same form as the table's timestamps (for the first page)."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S%z")
    return f"{text[:-5]} {text[-5:-2]}:{text[-2:]}"


class Totals:
    """Running sums of some columns: decimals and integers exactly (Decimal), floats as floats."""

    def __init__(self, columns: tuple[ColumnSpec, ...], names: tuple[str, ...]):
        self._columns = [column for column in columns if column.name in names]
        self._sums: dict[str, Decimal | float | None] = {column.name: None for column in self._columns}

    def __bool__(self) -> bool:
        return bool(self._columns)

    def add(self, table: pa.Table) -> None:
        for column in self._columns:
            array = table.column(column.name)
            if column.type == "integer":  # via decimal: an int64 sum would overflow silently
                array = array.cast(pa.decimal128(38, 0))
            part = pc.sum(array).as_py()
            if part is None:
                continue
            if column.type != "float":
                part = Decimal(part)
            previous = self._sums[column.name]
            self._sums[column.name] = part if previous is None else previous + part

    def texts(self, formatters: dict | None = None) -> dict[str, str]:
        """Column name -> the total as text ("" when every value was NULL), by the column's formatter if any."""
        result = {}
        for column in self._columns:
            total, convert = self._sums[column.name], (formatters or {}).get(column.name)
            if total is None:
                result[column.name] = ""
            elif convert is not None:  # a sum may need more digits than the column: decimal(38)
                kind = pa.float64() if column.type == "float" else pa.decimal128(38, column.scale)
                result[column.name] = convert(pa.array([total], kind)).to_pylist()[0]
            elif column.type == "float":
                result[column.name] = repr(total)
            else:
                result[column.name] = format(total, "f")
        return result

"""How an Excel export is laid out: sheet names, header texts, number formats, column widths.

Kept apart from the writer so the rules Excel imposes (31-character sheet names, forbidden
characters, a row limit per sheet) can be read and tested on their own.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.errors import ExportRequestError

EXCEL_ROWS = 1_048_576  # rows per sheet, the header row included
EXCEL_COLUMNS = 16_384
SHEET_NAME_UNITS = 31  # UTF-16 code units, as Excel counts them
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
WIDTH_SAMPLE_ROWS = 10_000  # the first rows of the export decide the column widths
MIN_WIDTH, MAX_WIDTH = 6, 60
FILTER_BUTTON = 3  # the autofilter arrow covers the end of the header text


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sheet_name(title: str, number: int = 1) -> str:
    """Sheet ``number`` of an export titled ``title``: 'Orders', then 'Orders (2)', 'Orders (3)'...

    Excel refuses []:*?/\\ and control characters, an apostrophe at either end, names over 31
    characters and the reserved name 'History'; the title is cleaned until none of that applies.
    """
    base = " ".join(_SHEET_NAME_FORBIDDEN.sub(" ", title).split()).strip("'").strip() or "Export"
    if base.casefold() == "history":
        base = "History export"
    suffix = f" ({number})" if number > 1 else ""
    while _utf16_units(base + suffix) > SHEET_NAME_UNITS:
        base = base[:-1]
    return (base.rstrip().rstrip("'") or "Export")[:SHEET_NAME_UNITS] + suffix


def header_text(column: ColumnSpec, style: str, timezone: str) -> str:
    """The header cell of ``column``; labels of timestamp columns name the zone their times are in."""
    if style == "name":
        return column.name
    return f"{column.label} ({timezone})" if column.type == "timestamp" else column.label


def number_format(column: ColumnSpec, settings: dict) -> str | None:
    """The Excel number format of ``column``'s cells; None leaves Excel's 'General'."""
    if column.type == "integer":
        return "0"  # never 1.23E+11 for a long id
    if column.type == "decimal":
        return "#,##0" + ("." + "0" * column.scale if column.scale > 0 else "")
    if column.type == "date":
        return settings["date_format"]
    if column.type == "timestamp":
        return settings["timestamp_format"]
    return None


# The formats' defaults: date formats, checked by the tests, so a request that keeps them does not import
# openpyxl (over half a second of a whole export's process on a busy machine) to be told so.
KNOWN_DATE_FORMATS = frozenset({"yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss.000"})


def require_date_format(settings: dict, name: str) -> None:
    """Refuse a number format that would show dates as plain numbers."""
    value = settings[name]
    if isinstance(value, str) and value in KNOWN_DATE_FORMATS:
        return
    from openpyxl.styles.numbers import is_date_format  # a format given in the request: openpyxl's own test

    if not isinstance(value, str) or not 0 < len(value) <= 255 or not is_date_format(value):
        raise ExportRequestError(
            f"format_options.{name}", f"{value!r} is not an Excel date format", "for example yyyy-mm-dd hh:mm:ss"
        )


class ColumnWidths:
    """Column widths measured on the first ``WIDTH_SAMPLE_ROWS`` rows, never on a second pass.

    The sample is the same rows however the export is chunked, so the file is too.
    """

    def __init__(self, columns: tuple[ColumnSpec, ...], headers: list[str], settings: dict):
        self._columns = columns
        self._sampled = 0
        # Bold text is a little wider than the default font.
        # Dates and timestamps are about as wide as their number format ('yyyy-mm-dd' shows 10 characters).
        fixed = {"boolean": 5, "date": len(settings["date_format"]), "timestamp": len(settings["timestamp_format"])}
        self.widths = [
            max(len(text) * 1.1 + FILTER_BUTTON, fixed.get(column.type, 0)) for column, text in zip(columns, headers)
        ]

    def sample(self, table: pa.Table) -> None:
        take = min(table.num_rows, WIDTH_SAMPLE_ROWS - self._sampled)
        if take <= 0:
            return
        self._sampled += take
        for index, column in enumerate(self._columns):
            if column.type in ("integer", "float", "decimal", "string"):
                self.widths[index] = max(self.widths[index], _longest(table.column(index).slice(0, take), column))

    def final(self) -> list[float]:
        return [min(max(width + 1, MIN_WIDTH), MAX_WIDTH) for width in self.widths]


def _longest(array: pa.ChunkedArray, column: ColumnSpec) -> float:
    if column.type == "string":  # a multi-line value is as wide as its longest line
        lines = pc.list_flatten(pc.split_pattern(array, "\n"))
        return pc.max(pc.utf8_length(lines)).as_py() or 0
    longest = pc.max(pc.utf8_length(array.cast(pa.string()))).as_py() or 0
    if column.type == "float":
        return min(longest, 12)  # 'General' shows about eleven digits
    if column.type == "decimal":
        return longest + max(longest - column.scale - 2, 0) // 3  # thousands separators
    return longest

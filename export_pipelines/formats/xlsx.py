"""Excel (.xlsx) written with XlsxWriter's constant_memory mode: typed cells, one row in memory.

XlsxWriter, not openpyxl's write-only mode: for the same cells of 100,000 orders rows openpyxl
needs about twice the time, in the same flat memory (benchmarks/xlsx_bench.py prints the
figures). Each row goes to a temporary file as soon as the next one starts; at close the sheets
are assembled and zipped into the stream. That takes temporary disk (TMPDIR) of about twice the
uncompressed sheets, some 0.5 KB per row of 13 columns: about 1 GB per million rows. Not
rustpy-xlsxwriter, though it takes 0.17x the time: it cannot give one text cell the quote prefix and
not the next, writes "" as no cell, has no text fallback in number columns and no document properties
(benchmarks/README.md has the figures and the differences).

What the cells hold:

- integers, floats and decimals are numbers. A decimal goes through its exact text, so the cell
  holds the double nearest to it (1234.50 reads back as 1234.5, 19.99 as 19.99) and shows
  ``scale`` decimals. Excel keeps 15 significant digits: an integer or decimal with more is
  written as its exact text rather than rounded unseen. NaN and infinities, which Excel cannot
  hold, give empty cells (as JSON's null).
- dates and timestamps are Excel dates with a date number format. Excel has no time zones: a
  timestamp is the wall-clock time of the request's zone (the zone its Arrow column carries),
  truncated to the millisecond, Excel's resolution. The zone is named in the header ("Created at
  (Europe/Berlin)"; header_style 'name' keeps bare column names) and in the workbook's custom
  property "Time zone", whatever the number format. In the hour a zone falls back, two instants
  share one wall-clock time; CSV and JSON keep the offset. Dates before 1900-03-01 (Excel's 1900
  leap-year bug) or after 9999 are ISO text.
- booleans are TRUE/FALSE cells. NULL is no cell at all; the empty string is a text cell holding
  "" (Excel shows both empty, but ISBLANK() and COUNTA() tell them apart, and openpyxl reads None
  and '').
- text is only ever text, never a formula; with ``formula_guard`` text starting with = + - @ also
  gets Excel's quote prefix, so editing the cell in Excel does not turn it into a formula. Text
  longer than an Excel cell holds (32,767 characters) fails the export instead of being cut.

Display rules (a request's ``formats``, ``locale``, ``highlight``; see ``xlsx_display``) choose number
formats, labels and alignment, and add conditional formats; the cells keep their values.

Layout: one sheet per ``max_rows_per_sheet`` data rows, named after the export title, each with
a bold, frozen header row, an autofilter over its rows and column widths measured on the first
rows of the export. The same rows give the same bytes: the workbook's creation date is fixed.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats.base import Renderer, require_choice
from export_pipelines.formats.xlsx_display import cell_properties, formula, highlight_properties
from export_pipelines.formats.xlsx_display import number_format as display_number_format
from export_pipelines.formats.xlsx_layout import (
    EXCEL_COLUMNS,
    EXCEL_ROWS,
    ColumnWidths,
    header_text,
    number_format,
    require_date_format,
    sheet_name,
)
from export_pipelines.formats.xlsx_values import excel_numbers

MAX_TEXT = 32_767  # UTF-16 units in one cell
FORMULA_TRIGGERS = frozenset("=+-@")
CREATED = datetime(1980, 1, 1)  # the zip format's epoch: a fixed date keeps the bytes repeatable


class XlsxRenderer(Renderer):
    """An Excel workbook: typed cells, a bold frozen header, autofilters, sheets of up to a million rows."""

    name = "xlsx"
    extension = "xlsx"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    options = {
        "header_style": (
            "label",
            "Header text: 'label' (catalog labels; timestamp columns name their time zone) or 'name' (column names).",
        ),
        "max_rows_per_sheet": (
            EXCEL_ROWS - 1,
            f"Data rows per sheet, 1 to {EXCEL_ROWS - 1:,}; more continue on a new sheet with the header repeated.",
        ),
        "formula_guard": (
            True,
            "Give text starting with = + - @ Excel's quote prefix, so editing it in Excel never makes it a "
            "formula. Text is never written as a formula either way.",
        ),
        "date_format": ("yyyy-mm-dd", "Excel number format of date cells."),
        "timestamp_format": (
            "yyyy-mm-dd hh:mm:ss.000",
            "Excel number format of timestamp cells (wall-clock time in the request's time zone). "
            "Excel rounds to what it shows: without .000, 23:59:59.999 shows as the next day.",
        ),
    }

    @classmethod
    def validate_settings(cls, settings):
        require_choice(settings, "header_style", ("label", "name"))
        require_choice(settings, "formula_guard", (True, False))
        limit = settings["max_rows_per_sheet"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit < EXCEL_ROWS:
            allowed = f"a whole number, 1 to {EXCEL_ROWS - 1:,}"
            raise ExportRequestError("format_options.max_rows_per_sheet", f"{limit!r} is not valid", allowed)
        require_date_format(settings, "date_format")
        require_date_format(settings, "timestamp_format")

    @classmethod
    def check_columns(cls, settings, columns):
        if len(columns) > EXCEL_COLUMNS:
            raise ExportRequestError(
                "columns", f"{len(columns):,} columns do not fit on an Excel sheet", f"at most {EXCEL_COLUMNS:,}"
            )

    def __init__(self, stream, context):
        super().__init__(stream, context)
        self.check_columns(self.settings, context.columns)
        # Row data waits in temporary files until close; the folder goes even if the run fails.
        self._folder = tempfile.TemporaryDirectory(prefix="export-xlsx-")
        self._book = xlsxwriter.Workbook(
            _WriteOnly(stream), {"constant_memory": True, "tmpdir": self._folder.name, "use_zip64": True}
        )
        self._book.set_properties(
            {"title": context.title, "created": CREATED, "comments": f"Times are local times in {context.timezone}."}
        )
        self._book.set_custom_property("Time zone", context.timezone)
        self._header_format = self._book.add_format({"bold": True})
        self._guard_format = self._book.add_format({"quote_prefix": True})
        self._formats = [self._format(column) for column in context.columns]
        self._headers = [header_text(c, self.settings["header_style"], context.timezone) for c in context.labelled()]
        self._widths = ColumnWidths(context.columns, self._headers, self.settings)
        self._sheets: list = []
        self._sheet_rows: list[int] = []

    def _format(self, column):
        """A column's cell format: the number format its display rule gives, else its type's; its alignment."""
        rule, locale = self.context.display.rule(column.name), self.context.display.locale
        code = display_number_format(column, rule, locale) or number_format(column, self.settings)
        properties = {**({"num_format": code} if code else {}), **cell_properties(rule)}
        return self._book.add_format(properties) if properties else None

    def _add_highlights(self) -> None:
        """Each highlight as a formula rule over every sheet's data rows (earlier rules win where they conflict)."""
        columns = self.context.columns
        for highlight in self.context.display.highlights:
            rule = {
                "type": "formula",
                "criteria": formula(highlight.condition, columns, self.context.timezone),
                "format": self._book.add_format(highlight_properties(highlight.style)),
            }
            spans = [(i, i) for i, c in enumerate(columns) if c.name in highlight.columns] or [(0, len(columns) - 1)]
            for sheet, rows in zip(self._sheets, self._sheet_rows):
                for first, last in spans if rows else ():
                    sheet.conditional_format(1, first, rows, last, rule)

    def write(self, table: pa.Table) -> None:
        with self._discarded_on_error():
            self._widths.sample(table)
            limit = self.settings["max_rows_per_sheet"]
            start = 0
            while start < table.num_rows:
                if not self._sheets or self._sheet_rows[-1] == limit:
                    self._add_sheet()
                take = min(table.num_rows - start, limit - self._sheet_rows[-1])
                self._write_rows(table.slice(start, take))
                start += take

    def close(self) -> None:
        with self._discarded_on_error():
            if not self._sheets:  # no rows at all: still a workbook with its header
                self._add_sheet()
            widths = self._widths.final()
            for sheet, rows in zip(self._sheets, self._sheet_rows):
                sheet.autofilter(0, 0, rows, len(widths) - 1)
                for index, width in enumerate(widths):
                    sheet.set_column(index, index, round(width, 1))
            self._add_highlights()
            self._book.close()
        self._folder.cleanup()

    @contextmanager
    def _discarded_on_error(self):
        """A failed render leaves no row data in TMPDIR: the run fails and nothing reads it again."""
        try:
            yield
        except BaseException:
            self._folder.cleanup()
            raise

    def _add_sheet(self) -> None:
        sheet = self._book.add_worksheet(sheet_name(self.context.title, len(self._sheets) + 1))
        sheet.freeze_panes(1, 0)
        for index, text in enumerate(self._headers):
            sheet.write_string(0, index, text, self._header_format)
        self._sheets.append(sheet)
        self._sheet_rows.append(0)

    def _write_rows(self, table: pa.Table) -> None:
        sheet = self._sheets[-1]
        writers, columns = [], []
        for index, column in enumerate(self.context.columns):
            write, values = self._cells(sheet, column, table.column(index))
            writers.append((index, write, self._formats[index]))
            columns.append(values)
        row = self._sheet_rows[-1] + 1
        # The one loop that runs per cell: everything above it is done once per column.
        for values in zip(*columns):
            for (index, write, cell_format), value in zip(writers, values):
                if value is not None:
                    write(row, index, value, cell_format)
            row += 1
        self._sheet_rows[-1] += table.num_rows

    def _cells(self, sheet, column, array: pa.ChunkedArray):
        """The writer method for ``column`` in this chunk and its cell values, as a list."""
        if column.type == "string":
            longest = _longest_text(array)
            if longest > MAX_TEXT:
                raise ExportRequestError(
                    "format",
                    f"column {column.name!r} holds a text of {longest:,} characters; an Excel cell holds {MAX_TEXT:,}",
                    "csv, json or jsonl keep such texts whole",
                )
            guarded = self.settings["formula_guard"] and pc.any(pc.match_substring_regex(array, r"^[=+\-@]")).as_py()
            return (_guarded_text(sheet, self._guard_format) if guarded else sheet.write_string), array.to_pylist()
        if column.type == "boolean":
            return sheet.write_boolean, array.to_pylist()
        values, with_text = excel_numbers(array)
        return (_number_or_text(sheet) if with_text else sheet.write_number), values


def _longest_text(array: pa.ChunkedArray) -> int:
    """The longest text in UTF-16 units, as Excel counts; only texts that could be too long are counted."""
    lengths = pc.utf8_length(array)
    if (pc.max(lengths).as_py() or 0) <= MAX_TEXT // 2:  # a character is at most two units
        return 0
    candidates = array.filter(pc.greater(lengths, MAX_TEXT // 2)).to_pylist()
    return max(len(text.encode("utf-16-le")) // 2 for text in candidates)


def _number_or_text(sheet):
    write_number, write_string = sheet.write_number, sheet.write_string

    def write(row, col, value, cell_format):
        if value.__class__ is str:
            return write_string(row, col, value)
        return write_number(row, col, value, cell_format)

    return write


def _guarded_text(sheet, guard_format):
    write_string = sheet.write_string

    def write(row, col, value, cell_format):
        return write_string(row, col, value, guard_format if value[:1] in FORMULA_TRIGGERS else cell_format)

    return write


class _WriteOnly:
    """The stream without seek or tell, so zipfile always streams (data descriptors): a gzip stream
    claims to be seekable but cannot seek back, and storage streams cannot seek at all."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, data) -> int:
        return self._stream.write(data)

    def flush(self) -> None:
        """Left to the stream's owner: flushing a gzip stream here would only add sync markers."""

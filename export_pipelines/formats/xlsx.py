"""Excel (.xlsx): typed cells written as SpreadsheetML in bulk, deflated on several threads, one chunk in memory.

How: each chunk's rows become sheet XML through Arrow's string kernels (``xlsx_cells``), the text
XlsxWriter's constant-memory mode wrote cell by cell, in a fraction of its time; parts of it are deflated
on worker threads and wait, compressed, in a temporary file (TMPDIR, about 100 bytes per row of 13
columns) until the last chunk. Then XlsxWriter writes the rest of the workbook once (``xlsx_book``:
styles, properties, header, widths, autofilters, highlights) and each sheet's rows are joined into its
XML in the zip written to the stream (``zip_members``). Not rustpy-xlsxwriter: it cannot give one text
cell the quote prefix and not the next, writes "" as no cell, has no text fallback in number columns
and no document properties (benchmarks/README.md has the figures and the differences).

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

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats.base import Renderer, require_choice
from export_pipelines.formats.xlsx_book import BookSkeleton
from export_pipelines.formats.xlsx_cells import SheetRows
from export_pipelines.formats.xlsx_layout import (
    EXCEL_COLUMNS,
    EXCEL_ROWS,
    ColumnWidths,
    header_text,
    require_date_format,
)
from export_pipelines.formats.zip_members import FINAL_BLOCK, DeflatingSpool, ZipWriter, crc32_combine, deflate_part

MAX_TEXT = 32_767  # UTF-16 units in one cell
PART_ROWS = 4_096  # rows per deflated part (about 2 MB of XML): big enough to compress well, small enough to share


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
        # Deflated rows wait in a temporary file until close; the folder goes even if the run fails.
        self._folder = tempfile.TemporaryDirectory(prefix="export-xlsx-")
        headers = [header_text(c, self.settings["header_style"], context.timezone) for c in context.labelled()]
        self._book = BookSkeleton(context, self.settings, headers, self._folder.name)
        self._rows = SheetRows(context.columns, self._book.styles)
        self._widths = ColumnWidths(context.columns, headers, self.settings)
        self._spool = DeflatingSpool(tempfile.TemporaryFile(dir=self._folder.name))
        self._sheets: list = []  # each sheet's Span of deflated rows in the spool
        self._sheet_rows: list[int] = []
        self._pending: list[pa.Table] = []  # rows of the current sheet not yet handed to a worker
        self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        with self._discarded_on_error():
            self._check_texts(table)
            self._widths.sample(table)
            limit = self.settings["max_rows_per_sheet"]
            start = 0
            while start < table.num_rows:
                if not self._sheets or self._sheet_rows[-1] + self._pending_rows == limit:
                    self._flush_part(self._pending_rows)
                    self._sheets.append(self._spool.begin())
                    self._sheet_rows.append(0)
                take = min(table.num_rows - start, limit - self._sheet_rows[-1] - self._pending_rows)
                self._submit(table.slice(start, take))
                start += take

    def _submit(self, table: pa.Table) -> None:
        """Rows of the current sheet, handed to the workers in parts of ``PART_ROWS`` rows.

        Parts are cut by row count, never at chunk ends, so the same rows give the same bytes however
        they were chunked.
        """
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= PART_ROWS:
            self._flush_part(PART_ROWS)

    def _flush_part(self, rows: int) -> None:
        if not rows:
            return
        pending = pa.concat_tables(self._pending)
        self._spool.submit(self._rows.encode, pending.slice(0, rows), self._sheet_rows[-1] + 2)  # row 1: the header
        self._sheet_rows[-1] += rows
        self._pending = [pending.slice(rows)]
        self._pending_rows -= rows

    def close(self) -> None:
        with self._discarded_on_error():
            self._flush_part(self._pending_rows)
            self._spool.drain()
            parts = self._book.parts(self._sheet_rows, self._widths.final())
            archive = ZipWriter(self.stream)
            for name, data in parts.members:
                if name not in parts.sheets:
                    archive.add(name, data)
                    continue
                number = int(name.rsplit("sheet", 1)[1].split(".")[0])
                self._add_sheet(archive, name, *parts.sheets[name], number)
            archive.close()
        self._spool.close()
        self._folder.cleanup()

    def _add_sheet(self, archive: ZipWriter, name: str, before: bytes, after: bytes, number: int) -> None:
        """One sheet's member: its XML up to the header row, the spooled rows, and the rest, as one deflate stream."""
        span = self._sheets[number - 1] if number <= len(self._sheets) else None
        head, head_crc, head_size = deflate_part(before)
        tail, tail_crc, tail_size = deflate_part(after)
        crc, size, middle = head_crc, head_size, 0
        if span is not None:
            crc, size, middle = crc32_combine(crc, span.crc, span.size), size + span.size, span.end - span.start
        crc = crc32_combine(crc, tail_crc, tail_size)
        pieces = [head, (lambda output: self._spool.copy(span, output)) if span else b"", tail, FINAL_BLOCK]
        compressed = len(head) + middle + len(tail) + len(FINAL_BLOCK)
        archive.add_deflated(name, pieces, crc, size + tail_size, compressed)

    @contextmanager
    def _discarded_on_error(self):
        """A failed render leaves no row data in TMPDIR: the run fails and nothing reads it again."""
        try:
            yield
        except BaseException:
            self._spool.close()
            self._folder.cleanup()
            raise

    def _check_texts(self, table: pa.Table) -> None:
        """Refuse text longer than a cell holds, rather than cutting it unseen."""
        for index, column in enumerate(self.context.columns):
            if column.type != "string":
                continue
            longest = _longest_text(table.column(index))
            if longest > MAX_TEXT:
                raise ExportRequestError(
                    "format",
                    f"column {column.name!r} holds a text of {longest:,} characters; an Excel cell holds {MAX_TEXT:,}",
                    "csv, json or jsonl keep such texts whole",
                )


def _longest_text(array: pa.ChunkedArray) -> int:
    """The longest text in UTF-16 units, as Excel counts; only texts that could be too long are counted."""
    lengths = pc.utf8_length(array)
    if (pc.max(lengths).as_py() or 0) <= MAX_TEXT // 2:  # a character is at most two units
        return 0
    candidates = array.filter(pc.greater(lengths, MAX_TEXT // 2)).to_pylist()
    return max(len(text.encode("utf-16-le")) // 2 for text in candidates)

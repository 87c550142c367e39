"""Cutting a report's rows into page ranges that can be drawn apart and joined into the same pages.

A range may only start where one renderer would start a fresh page with a fresh row, so the
planner follows the page rule (``pagination``) with each row's line count, but draws nothing. Most
cells cannot wrap, and that is told from Arrow's vectorised string lengths: a printable ASCII text
whose length times the font's widest ASCII glyph fits its column is one line. Only the others
(long, non-ASCII, with line breaks) are measured, by the same ``CellLines`` the drawing uses.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from reportlab.pdfgen.canvas import Canvas

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.styles import DisplayRules
from export_pipelines.reports.canvas_table import TableWriter
from export_pipelines.reports.cells import Totals, cell_text_array, report_formatters
from export_pipelines.reports.document import SLICE_ROWS, RangePart
from export_pipelines.reports.fonts import FontSet
from export_pipelines.reports.layout import PageLayout, plan_layout
from export_pipelines.reports.page import Furniture, ReportFacts
from export_pipelines.reports.pagination import Paginator
from export_pipelines.reports.template import ReportTemplate

_PRINTABLE_ASCII = [chr(code) for code in range(32, 127)]
_CONTROL = r"[\x00-\x1f\x7f]"
_ONE_SHAPE = {"date": "2024-12-31", "timestamp": "2024-12-31 23:59:59.999999 +00:00"}  # the widest
_SHAPES_LIMIT = 16_384  # distinct text shapes remembered per column


@dataclass
class PlannedRange:
    """The rows of one range of pages (slices of the chunks they came in) and where the range starts."""

    tables: list[pa.Table]
    part: RangePart


class RangePlanner:
    """``add`` chunks and get back each range as soon as it is complete; ``finish`` returns the last one."""

    def __init__(
        self,
        template: ReportTemplate,
        columns: tuple[ColumnSpec, ...],
        facts: ReportFacts,
        display: DisplayRules,
        range_rows: int,
    ):
        self._template, self._columns, self._facts, self._display = template, columns, facts, display
        self._range_rows = range_rows
        self._formatters = report_formatters(columns, display)
        self._fonts = FontSet(template.regular_font, template.bold_font, template.fallback_fonts)
        self.totals = Totals(columns, template.totals)
        self.layout: PageLayout | None = None
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._first_page, self._first_row = 1, 0  # of the range being gathered
        self.pages = 0

    def add(self, table: pa.Table) -> Iterator[PlannedRange]:
        if self.totals:
            self.totals.add(table)
        for offset in range(0, table.num_rows, SLICE_ROWS):
            rows = table.slice(offset, SLICE_ROWS)
            if self.layout is None:
                self._begin([cell_text_array(rows, c, f).to_pylist() for c, f in zip(self._columns, self._formatters)])
            texts = [
                cell_text_array(rows, column, convert) if may_wrap else None
                for column, convert, may_wrap in zip(self._columns, self._formatters, self._may_wrap)
            ]
            start = 0
            for index, count in enumerate(self._line_counts(texts, rows.num_rows)):
                ranged = self.rows + index - self._first_row
                if ranged >= self._range_rows and self._paginator.starts_page(count):
                    self._pending.append(rows.slice(start, index - start))
                    yield self._cut(first_page=self.pages + 1, first_row=self.rows + index)
                    start = index
                if count > 1 or self._paginator.place_line() is None:
                    for _ in self._paginator.place(count):
                        pass
            self._pending.append(rows.slice(start))
            self.rows += rows.num_rows

    def finish(self) -> PlannedRange:
        """The last range: the rows left (none for an empty export)."""
        if self.layout is None:
            self._begin(None)
        return self._cut(first_page=0, first_row=0)

    # ---- pieces -------------------------------------------------------------------------------

    def _cut(self, first_page: int, first_row: int) -> PlannedRange:
        planned = PlannedRange(self._pending, RangePart(self.layout, self._first_page, self._first_row))
        self._pending, self._first_page, self._first_row = [], first_page, first_row
        return planned

    def _begin(self, sample: list[list[str]] | None) -> None:
        """Plan the layout as the renderer does, and find where the table starts on page one and after."""
        template = self._template
        self.layout = layout = plan_layout(template, self._columns, self._fonts, sample, self._display)
        scratch = Canvas(io.BytesIO(), pagesize=(layout.width, layout.height))  # measured on, never saved
        first_top = Furniture(scratch, self._fonts, template, layout, self._facts).start_page(1)
        table = TableWriter(scratch, layout, self._fonts, template.font_size, template.colours, lambda page: 0.0)
        self._cells, header = table.cells, table.header_height
        self._tops = (first_top - header, layout.top - header)
        self._widest = max(self._fonts.width(char, template.font_size) for char in _PRINTABLE_ASCII) * 1.001
        self._tabular_digits = len({self._fonts.width(digit, template.font_size) for digit in "0123456789"}) == 1
        # Dates and timestamps have one shape (digits aside), the one their column was made wide enough for.
        self._may_wrap = [
            not (
                self._tabular_digits
                and convert is None
                and column.type in _ONE_SHAPE
                and self._fonts.width(_ONE_SHAPE[column.type], template.font_size) <= inner + 0.01
            )
            for column, convert, inner in zip(self._columns, self._formatters, self._cells.inner)
        ]
        self._known: list[dict[str, int]] = [{} for _ in layout.columns]  # line counts by text shape
        self._paginator = Paginator(layout.bottom, template.font_size, self._turn_page)
        self._paginator.turn()

    def _turn_page(self) -> float:
        self.pages += 1
        return self._tops[0] if self.pages == 1 else self._tops[1]

    def _line_counts(self, texts: list[pa.ChunkedArray], count: int) -> list[int]:
        """Each row's height in lines: the most lines any of its cells takes (at least one).

        Where the font's digits all have one width (Noto Sans's do), a text wraps like itself with every
        digit made a 0, so numbers, dates and timestamps come down to a few shapes, each measured once.
        """
        counts = [1] * count
        for index, array in enumerate(texts):
            if array is None:
                continue
            suspect = pc.or_(
                pc.invert(pc.string_is_ascii(array)),
                pc.greater(
                    pc.multiply(pc.utf8_length(array).cast(pa.float64()), self._widest), self._cells.inner[index]
                ),
            )
            if self._columns[index].type == "string" or self._formatters[index] is not None:
                suspect = pc.or_(suspect, pc.match_substring_regex(array, _CONTROL))
            rows = pc.indices_nonzero(suspect)
            if not len(rows):
                continue
            shapes = pc.take(array, rows)
            if self._tabular_digits:
                shapes = pc.replace_substring_regex(shapes, pattern="[0-9]", replacement="0")
            known, lines = self._known[index], self._cells.lines
            if len(known) >= _SHAPES_LIMIT:
                known.clear()
            for row, shape in zip(rows.to_pylist(), shapes.to_pylist()):
                height = known.get(shape)
                if height is None:
                    height = known[shape] = len(lines(index, shape))
                if height > counts[row]:
                    counts[row] = height
        return counts

"""One PDF report: a template, the export's columns and facts in; Arrow chunks streamed to pages.

``PdfReport`` holds one canvas page at a time: rows are turned into text a slice at a time, drawn,
and each finished page goes to reportlab, compressed at once so that the document holds only
compressed pages until it is written out at the end. The page is set up at the first slice of
rows, whose texts size the text columns.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from zoneinfo import ZoneInfo

import pyarrow as pa
from reportlab.pdfbase.pdfdoc import PDFArray, PDFName, PDFStream
from reportlab.pdfgen.canvas import Canvas

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.styles import NO_RULES, DisplayRules
from export_pipelines.reports.canvas_table import TableWriter
from export_pipelines.reports.cells import Totals, cell_text_array, report_formatters, timestamp_text
from export_pipelines.reports.fonts import FontSet
from export_pipelines.reports.highlight import cell_styles
from export_pipelines.reports.layout import PageLayout, plan_layout
from export_pipelines.reports.page import Furniture, ReportFacts
from export_pipelines.reports.template import ReportTemplate

SLICE_ROWS = 2_000  # rows turned into Python strings at once, whatever the chunk size


class _CompressingCanvas(Canvas):
    """A canvas that deflates each page's content when the page ends, not when the file is saved.

    reportlab keeps every page's content as text until ``save``; at thousands of pages that is
    the bulk of the memory. Deflated right away, a page costs a few kilobytes.
    """

    def showPage(self):
        super().showPage()
        page = self._doc.Pages.pages[-1]
        if getattr(page, "stream", None):
            content = PDFStream(content=zlib.compress(page.stream.encode("utf-8")))
            content.dictionary["Filter"] = PDFArray([PDFName("FlateDecode")])
            content.__Comment__ = "page stream"
            page.Contents, page.stream = content, None


class PdfReport:
    """Write ``add``-ed chunks as a paginated table; ``close`` ends the file (the stream stays open)."""

    def __init__(
        self,
        stream: BinaryIO,
        template: ReportTemplate,
        columns: tuple[ColumnSpec, ...],
        facts: ReportFacts,
        display: DisplayRules = NO_RULES,
        part: RangePart | None = None,
    ):
        self._stream, self._template, self._columns, self._facts = stream, template, columns, facts
        self._display, self._formatters = display, report_formatters(columns, display)
        self._fonts = FontSet(template.regular_font, template.bold_font, template.fallback_fonts)
        self._part = part
        self.totals = Totals(columns, template.totals if part is None else ())  # a range's totals: its planner's
        self._table: TableWriter | None = None  # set up at the first rows, which size the columns
        self.rows = 0
        self.landscape = False

    def _begin(self, sample: list[list[str]] | None) -> TableWriter:
        template, facts, part = self._template, self._facts, self._part
        if part is None:
            layout = plan_layout(template, self._columns, self._fonts, sample, self._display)
        else:
            layout = part.layout  # a range: the whole report's layout, planned from its first rows
        self.landscape = layout.landscape
        canvas = _CompressingCanvas(self._stream, pagesize=(layout.width, layout.height), pageCompression=1)
        canvas.setTitle(facts.title)
        canvas.setSubject(f"Export {facts.export_id}" if facts.export_id else "Export")
        canvas.setCreator("export_pipelines")
        self._canvas = canvas
        self._furniture = Furniture(canvas, self._fonts, template, layout, facts)
        table = TableWriter(
            canvas,
            layout,
            self._fonts,
            template.font_size,
            template.colours,
            self._furniture.start_page,
            *((part.first_page, part.first_row) if part else ()),
        )
        table.begin()
        return table

    def add(self, table: pa.Table) -> None:
        if self.totals:
            self.totals.add(table)
        for offset in range(0, table.num_rows, SLICE_ROWS):
            rows = table.slice(offset, SLICE_ROWS)
            arrays = [cell_text_array(rows, c, f) for c, f in zip(self._columns, self._formatters)]
            texts = [array.to_pylist() for array in arrays]
            if self._table is None:
                self._table = self._begin(texts)
            styles = cell_styles(rows, self._columns, self._display.highlights)
            self._table.add_rows(texts, styles, self._table.plain.templates(arrays))
        self.rows += table.num_rows

    def close(self, totals: Totals | None = None) -> int:
        """Finish the last page and write the file; return the number of its last page.

        A range's ``totals`` (the whole report's, on its last range) come from its planner; a range's
        page and row counts are left as zeros for the merge to fill in (``range_merge``).
        """
        if self._table is None:
            self._table = self._begin(None)
        totals = totals or self.totals
        if totals:
            formatters = {column.name: f for column, f in zip(self._columns, self._formatters) if f is not None}
            self._table.add_totals(totals.texts(formatters), self._template.totals_label)
        pages = self._table.finish()
        if self._part is None:
            self._furniture.finish(pages=pages, rows=self.rows)
        else:
            self._furniture.finish(pages=0, rows=0)
        self._canvas.save()
        return pages


@dataclass(frozen=True)
class RangePart:
    """A range of a longer report's pages: the whole report's layout, and where the range starts."""

    layout: PageLayout
    first_page: int
    first_row: int


def report_facts(
    title: str,
    timezone: str,
    export_id: str = "",
    filters: tuple[str, ...] = (),
    user: str = "",
    now: datetime | None = None,
) -> ReportFacts:
    """The facts a report states, with the generation time in the export's time zone."""
    moment = (now or datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    return ReportFacts(
        title=title,
        generated_at=timestamp_text(moment),
        export_id=export_id,
        timezone=timezone,
        filters=tuple(filters),
        user=user,
    )

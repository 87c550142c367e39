"""Everything of an Excel workbook but its data rows, written by XlsxWriter once the row counts are known.

XlsxWriter writes what it does well and rarely: styles (number formats, the bold header, alignment,
the quote prefix), document properties, sheet names, the frozen header row, column widths,
autofilters and the highlights' conditional formats. The data rows, which are nearly all of a file's
bytes and time, are made by ``xlsx_cells`` and joined into each sheet's XML at ``</sheetData>``.
The style indexes the rows refer to are fixed when the book is made, before any row is encoded.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from export_pipelines.formats.base import RenderContext
from export_pipelines.formats.xlsx_cells import CellStyles
from export_pipelines.formats.xlsx_display import cell_properties, formula, highlight_properties
from export_pipelines.formats.xlsx_display import number_format as display_number_format
from export_pipelines.formats.xlsx_layout import number_format, sheet_name

CREATED = datetime(1980, 1, 1)  # the zip format's epoch: a fixed date keeps the bytes repeatable
SHEET_DATA_END = b"</sheetData>"
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')


@dataclass(frozen=True)
class BookParts:
    """The workbook's members in order; a sheet's member is the text before and after its rows."""

    members: list[tuple[str, bytes]]
    sheets: dict[str, tuple[bytes, bytes]]


class BookSkeleton:
    """The XlsxWriter workbook of an export: its formats now, its sheets at ``parts``."""

    def __init__(self, context: RenderContext, settings: dict, headers: list[str], folder: str):
        self._context = context
        self._output = io.BytesIO()
        # constant_memory: the header cells are inline strings, as the data rows' texts are.
        self._book = xlsxwriter.Workbook(self._output, {"constant_memory": True, "tmpdir": folder})
        self._book.set_properties(
            {"title": context.title, "created": CREATED, "comments": f"Times are local times in {context.timezone}."}
        )
        self._book.set_custom_property("Time zone", context.timezone)
        self._headers = headers
        self._header_format = self._book.add_format({"bold": True})
        self._header_format._get_xf_index()  # index 1, before the cells' formats
        formats = [self._format(column, settings) for column in context.columns]
        guard = self._book.add_format({"quote_prefix": True}) if settings["formula_guard"] else None
        self.styles = CellStyles(
            tuple(f._get_xf_index() if f is not None else None for f in formats),
            guard._get_xf_index() if guard is not None else None,
        )

    def _format(self, column, settings: dict):
        """A column's cell format: the number format its display rule gives, else its type's; its alignment."""
        rule, locale = self._context.display.rule(column.name), self._context.display.locale
        code = display_number_format(column, rule, locale) or number_format(column, settings)
        properties = {**({"num_format": code} if code else {}), **cell_properties(rule)}
        return self._book.add_format(properties) if properties else None

    def parts(self, sheet_rows: list[int], widths: list[float]) -> BookParts:
        """The workbook with ``sheet_rows`` data rows on each sheet (at least one sheet), cut at each sheet's rows."""
        sheets = []
        last = xl_col_to_name(len(widths) - 1)
        for number, rows in enumerate(sheet_rows or [0], start=1):
            sheet = self._book.add_worksheet(sheet_name(self._context.title, number))
            sheet.freeze_panes(1, 0)
            for index, text in enumerate(self._headers):
                sheet.write_string(0, index, text, self._header_format)
            sheet.autofilter(0, 0, rows, len(widths) - 1)
            for index, width in enumerate(widths):
                sheet.set_column(index, index, round(width, 1))
            sheets.append((sheet, rows))
        self._add_highlights(sheets)
        self._book.close()
        members, cut = [], {}
        with zipfile.ZipFile(io.BytesIO(self._output.getvalue())) as archive:
            for name in archive.namelist():
                members.append((name, archive.read(name)))
        for number, (_, rows) in enumerate(sheets, start=1):
            name = f"xl/worksheets/sheet{number}.xml"
            text = dict(members)[name]
            ref = f"A1:{last}{rows + 1}" if (rows or last != "A") else "A1"
            text = _DIMENSION.sub(f'<dimension ref="{ref}"/>'.encode(), text, count=1)
            end = text.index(SHEET_DATA_END)
            cut[name] = (text[:end], text[end:])
        return BookParts(members, cut)

    def _add_highlights(self, sheets) -> None:
        """Each highlight as a formula rule over every sheet's data rows (earlier rules win where they conflict)."""
        columns = self._context.columns
        for highlight in self._context.display.highlights:
            rule = {
                "type": "formula",
                "criteria": formula(highlight.condition, columns, self._context.timezone),
                "format": self._book.add_format(highlight_properties(highlight.style)),
            }
            spans = [(i, i) for i, c in enumerate(columns) if c.name in highlight.columns] or [(0, len(columns) - 1)]
            for sheet, rows in sheets:
                for first, last in spans if rows else ():
                    sheet.conditional_format(1, first, rows, last, rule)

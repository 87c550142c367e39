"""Rows of an Excel sheet as SpreadsheetML text, made a chunk at a time by Arrow's string kernels.

The text is the one XlsxWriter's constant-memory mode writes for the same cells (``<c r="B2" s="1"
t="inlineStr"><is><t>...</t></is></c>``, numbers as ``%.16G``), so readers see the same workbook;
only it is made per column, not per cell in Python. Strings are inline (no shared-string table to hold
in memory), escaped as XlsxWriter escapes them: ``& < >`` as entities, control characters (and text that
looks like such an escape) as Excel's ``_xHHHH_``, and ``xml:space="preserve"`` where text starts or
ends with white space. Every piece is a large string, so no chunk overflows 32-bit offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from xlsxwriter.utility import xl_col_to_name

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.formats.xlsx_values import excel_numbers

TEXT = pa.large_string()
_ESCAPE_OF_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL_CHARACTER = re.compile(r"([\x00-\x08\x0b-\x1f])")
# What Python's \s matches (XlsxWriter tests text with it), for RE2, which knows ASCII white space only.
SPACE_CLASS = r"[\t\n\x0b\x0c\r\x1c-\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]"
# Texts that are not plain: an entity, a control character or what looks like its escape, white space at an end.
_SPECIAL = rf"[&<>\x00-\x08\x0b-\x1f\x{{FFFE}}\x{{FFFF}}]|_x[0-9a-fA-F]{{4}}_|^{SPACE_CLASS}|{SPACE_CLASS}$"
_PYTHON_EDGE_SPACE = re.compile(r"^\s|\s$")  # XlsxWriter's own test
_TRIGGER = r"^[=+\-@]"  # text Excel would take for a formula (no Arrow object here: pyarrow would import pandas)


def _literal(text: str) -> pa.Scalar:
    return pa.scalar(text, TEXT)


def _joined(*pieces) -> pa.Array:
    """Pieces (arrays or literal texts) joined row by row; null where any piece is null."""
    return pc.binary_join_element_wise(*[_literal(p) if isinstance(p, str) else p for p in pieces], _literal(""))


def excel_escaped(text: str) -> str:
    """XlsxWriter's escape of control characters: ``\\x01`` -> ``_x0001_``, ``_x0041_`` -> ``_x005F_x0041_``."""
    text = _CONTROL_CHARACTER.sub(lambda m: f"_x{ord(m.group(1)):04X}_", _ESCAPE_OF_ESCAPE.sub(r"_x005F\1", text))
    return text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")


def _style(index: int | None) -> str:
    return f' s="{index}"' if index else ""


@dataclass(frozen=True)
class CellStyles:
    """Style (xf) indexes: each column's (None: Excel's General), and the formula guard's (None: no guard)."""

    columns: tuple[int | None, ...]
    guard: int | None


class SheetRows:
    """Encodes chunks of rows of ``columns`` as the ``<row>`` elements of a sheet's ``<sheetData>``."""

    def __init__(self, columns: tuple[ColumnSpec, ...], styles: CellStyles):
        self._columns = columns
        self._styles = styles
        self._letters = [xl_col_to_name(index) for index in range(len(columns))]

    def encode(self, table: pa.Table, first_row: int) -> pa.Buffer:
        """The rows of ``table``, the first numbered ``first_row`` (1-based, as in Excel)."""
        numbers = pa.array(range(first_row, first_row + table.num_rows), pa.int64()).cast(TEXT)
        cells = [
            self._cells(index, column, table.column(index).combine_chunks(), numbers)
            for index, column in enumerate(self._columns)
        ]
        rows = _joined('<row r="', numbers, '">', *[pc.fill_null(c, _literal("")) for c in cells], "</row>")
        if all(c.null_count for c in cells):  # a row without a cell is left out, as XlsxWriter leaves it
            empty = pc.and_(*[c.is_null() for c in cells[:2]]) if len(cells) > 1 else cells[0].is_null()
            for more in cells[2:]:
                empty = pc.and_(empty, more.is_null())
            rows = pc.if_else(empty, _literal(""), rows)
        _, offsets, data = rows.buffers()
        offsets = memoryview(offsets).cast("q")  # a large string's 64-bit offsets: the rows lie end to end
        return data[offsets[rows.offset] : offsets[rows.offset + len(rows)]]

    def _cells(self, index: int, column: ColumnSpec, array: pa.Array, numbers: pa.Array) -> pa.Array:
        start, style = f'<c r="{self._letters[index]}', _style(self._styles.columns[index])
        if column.type == "string":
            return self._text_cells(start, style, array, numbers)
        if column.type == "boolean":
            return _joined(start, numbers, f'"{style} t="b"><v>', pc.if_else(array, "1", "0").cast(TEXT), "</v></c>")
        values, texts = excel_numbers(array)
        cells = _joined(start, numbers, f'"{style}><v>', values.cast(TEXT), "</v></c>")
        if texts is None:
            return cells
        # An exact text where Excel would change the number: a plain text cell, as it always was.
        return pc.coalesce(cells, _joined(start, numbers, '" t="inlineStr"><is><t>', texts.cast(TEXT), "</t></is></c>"))

    def _text_cells(self, start: str, style: str, array: pa.Array, numbers: pa.Array) -> pa.Array:
        array = array.cast(TEXT)
        kind = f'"{style} t="inlineStr"><is>'
        if self._styles.guard is not None:
            guarded = pc.match_substring_regex(array, _TRIGGER)
            if pc.any(guarded).as_py():
                guard_kind = f'"{_style(self._styles.guard)} t="inlineStr"><is>'
                kind = pc.if_else(guarded, _literal(guard_kind), _literal(kind))
        return _joined(start, numbers, kind, _text_elements(array), "</is></c>")


def _text_elements(array: pa.Array) -> pa.Array:
    """Each text as its ``<t>`` element; texts that need escaping (one pass finds them) are made one by one."""
    elements = _joined("<t>", array, "</t>")
    special = pc.fill_null(pc.match_substring_regex(array, _SPECIAL), False)
    if not pc.any(special).as_py():
        return elements
    made = [_text_element(text) for text in array.filter(special).to_pylist()]
    return pc.replace_with_mask(elements, special, pa.array(made, TEXT))


def _text_element(text: str) -> str:
    """One ``<t>`` element exactly as XlsxWriter writes it: control escapes, then white space, then entities."""
    text = excel_escaped(text)
    space = ' xml:space="preserve"' if _PYTHON_EDGE_SPACE.search(text) else ""
    return f"<t{space}>{text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</t>"

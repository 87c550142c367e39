"""The text operators of a report's plain rows, built a slice of rows at a time with Arrow kernels.

Most rows of a report are one line of printable ASCII in every cell, without highlights. Their cells
are written as the same operators ``TableWriter`` writes one cell at a time
(``1 0 0 1 x y Tm (escaped) Tj``, one a line), but a whole row comes out of Arrow as one string with
its baseline left as a mark (``BASELINE``): the table fills in the baseline when it places the row,
one ``str.replace`` a row instead of a measurement, an alignment and an escape per cell.

A cell is plain when its text is printable ASCII (empty included) and it is known to fit its column
on one line: left-aligned, because its length times the font's widest ASCII glyph fits (as the range
planner tells it); right- or center-aligned, because ``CellLines`` measured its text (or, for numbers,
dates and timestamps in a font with digits of one width, its shape) as one line. Any other cell makes
its row null: the table draws that row as before.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.reports.cell_lines import CellLines
from export_pipelines.reports.fonts import FontSet

BASELINE = "\x00"  # where a row's "<baseline> Tm (" goes; never in printable ASCII
_PRINTABLE = r"^[ -~]*$"
_ASCII = [chr(code) for code in range(32, 127)]
_NULL = pa.scalar(None, pa.string())
_ZEROS = bytes.maketrans(b"123456789", b"000000000")


class PlainRows:
    """``templates(texts)``: each row's operators with the baseline marked, or None where a cell is not plain.

    ``places``: each column's ``(align, left, right, width, left_matrix)`` as ``TableWriter`` keeps them;
    ``shaped``: per column, whether ``CellLines`` measures it by its shape (digits made 0).
    """

    def __init__(self, places: list[tuple], cells: CellLines, fonts: FontSet, size: float, shaped: list[bool]):
        self._places, self._cells, self._shaped = places, cells, shaped
        widest = max(fonts.width(char, size) for char in _ASCII) * 1.001
        self._fits = [inner / widest for inner in cells.inner]  # characters a left-aligned cell surely holds

    def templates(self, texts: list[pa.Array | pa.ChunkedArray]) -> list[str | None]:
        fragments = [self._fragments(index, array) for index, array in enumerate(texts)]
        rows = pc.binary_join_element_wise(*fragments, "", null_handling="emit_null")
        return pc.utf8_ltrim(rows, characters="\n").to_pylist()

    def _fragments(self, index: int, text: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
        """Per cell: ``"\\n" + matrix + BASELINE + escaped + ") Tj"``, "" for an empty cell, null if not plain."""
        align, left, right, column_width, left_matrix = self._places[index]
        printable = pc.match_substring_regex(text, _PRINTABLE)
        escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), "(", "\\(")
        escaped = pc.replace_substring(escaped, ")", "\\)")
        if align == "left":  # one matrix; the cells that are not surely one line measured by their keys
            surely = pc.less_equal(pc.utf8_length(text), self._fits[index])
            measured = self._measured(index, text, pc.and_not(printable, surely), lambda width: "")
            fits = pc.or_(pc.and_(printable, surely), pc.is_valid(measured))
            fragment = pc.binary_join_element_wise("\n" + left_matrix + BASELINE, escaped, ") Tj", "")
            fragment = pc.if_else(fits, fragment, _NULL)
        else:
            matrix = self._measured(
                index, text, printable,
                lambda width: f"\n1 0 0 1 {aligned(align, left, right, column_width, width):.2f} {BASELINE}",
            )  # fmt: skip
            fragment = pc.binary_join_element_wise(matrix, escaped, ") Tj", "")
        return pc.if_else(pc.equal(text, ""), "", fragment)

    def _measured(self, index: int, text: pa.Array | pa.ChunkedArray, which, shown) -> pa.Array:
        """``shown(width)`` for each cell of ``which`` whose text ``CellLines`` makes one line; null elsewhere.

        Measured once per distinct key: the text, or its shape where ``CellLines`` measures shapes."""
        keys = _zeroed(text) if self._shaped[index] else text
        encoded = pc.dictionary_encode(pc.if_else(which, keys, _NULL))
        if isinstance(encoded, pa.ChunkedArray):  # display rules' formatters give plain arrays
            encoded = encoded.combine_chunks()
        values = []
        for key in encoded.dictionary.to_pylist():
            lines = self._cells.lines(index, key)
            values.append(shown(lines[0][1]) if len(lines) == 1 and lines[0][0] == key else None)
        return pc.take(pa.array(values, pa.string()), encoded.indices)


def _zeroed(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``text`` with every digit made 0 (``CellLines``' shapes): one ``bytes.translate`` of each chunk's UTF-8,
    where a regex replacement took a hundred times as long. Other bytes of UTF-8 are never ASCII digits."""
    if isinstance(text, pa.ChunkedArray):
        return pa.chunked_array([_zeroed(chunk) for chunk in text.chunks], pa.string())
    compact = pa.concat_arrays([text])  # a slice's own bytes, offsets from 0
    validity, offsets, data = compact.buffers()
    data = pa.py_buffer(data.to_pybytes().translate(_ZEROS)) if data is not None else data
    return pa.Array.from_buffers(pa.string(), len(compact), [validity, offsets, data], compact.null_count)


def aligned(align: str, left: float, right: float, column_width: float, width: float) -> float | None:
    """Where a line ``width`` wide starts in a right- or center-aligned column; None when left-aligned."""
    if align == "right":
        return right - width
    if align == "center":
        return left + (column_width - width) / 2
    return None

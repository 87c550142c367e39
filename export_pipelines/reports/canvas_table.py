"""The report's table, drawn straight onto the canvas page by page as chunks arrive.

Platypus tables keep every row of a page as flowables and measure them twice; at 100,000 rows
that cost 37 s and 781 MB here, against 29 s and 185 MB for drawing rows directly. So rows are
measured once (with caches for repeated text), wrapped, and drawn; a row taller than the room
left moves to the next page, and a row taller than a whole page continues on the next one, so
nothing is ever cut off. Each finished page is handed to reportlab and forgotten.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from weakref import WeakKeyDictionary

from reportlab.lib.colors import Color
from reportlab.lib.rl_accel import escapePDF
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from export_pipelines.reports.fonts import SYNTHETIC_BOLD_STROKE, FontSet
from export_pipelines.reports.layout import CELL_PAD_X, CELL_PAD_Y, LEADING, PageLayout

_CACHE_LIMIT = 4096  # distinct texts remembered per text column
_EMPTY: tuple = ()
Lines = Sequence[tuple[str, float]]


class TextWriter:
    """One block of text in one colour, written as PDF text operators.

    reportlab's text objects re-derive fonts, subsets and escapes for every string: at a million
    cells that was most of the run time. This writer emits the same operators reportlab documents
    for TrueType subsets (``splitString`` + ``getSubsetInternalName``), switching face, size and
    render mode only when they change, and skips the subset split for printable ASCII, which
    reportlab always places at its own code in subset 0.
    """

    def __init__(self, canvas: Canvas, fonts: FontSet, colour: Color, size: float):
        self._canvas, self._fonts, self._size = canvas, fonts, size
        self._encoder = _encoder(canvas)
        rgb = f"{colour.red:.4f} {colour.green:.4f} {colour.blue:.4f}"
        self._ops = [f"q {rgb} rg {rgb} RG BT"]
        self._face: tuple[str, float] | None = None
        self._stroke: tuple[int, float] = (0, 0.0)

    def line(self, x: float, y: float, text: str, bold: bool = False, size: float | None = None) -> None:
        size = size or self._size
        ops = self._ops
        if not bold and text.isascii() and text.isprintable():  # most cells: one run, no subset split
            name = self._encoder.ascii_subset(self._fonts.regular)
            if name is not None:
                if self._stroke[0]:
                    ops.append("0 Tr")
                    self._stroke = (0, 0.0)
                if self._face != (name, size):
                    ops.append(f"{name} {size:g} Tf")
                    self._face = (name, size)
                ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm ({escapePDF(text)}) Tj")
                return
        ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm")
        for run in self._fonts.runs(text, bold):
            mode = 2 if run.synthetic_bold else 0  # 2: fill and stroke, i.e. emboldened
            if (mode, size if mode else 0.0) != self._stroke:
                ops.append(f"{size * SYNTHETIC_BOLD_STROKE:.3f} w 2 Tr" if mode else "0 Tr")
                self._stroke = (mode, size if mode else 0.0)
            for name, chunk in self._encoder.segments(run.font, run.text):
                if self._face != (name, size):
                    ops.append(f"{name} {size:g} Tf")
                    self._face = (name, size)
                ops.append(f"({chunk}) Tj")

    def draw(self) -> None:
        if len(self._ops) > 1:
            self._ops.append("ET Q")
            self._canvas.addLiteral("\n".join(self._ops))
        self._ops = self._ops[:1]
        self._face, self._stroke = None, (0, 0.0)


class _Encoder:
    """Text -> (subset font name, escaped bytes) for one document; repeated texts are cached."""

    def __init__(self, doc):
        self._doc = doc
        self._ascii: dict[str, str | None] = {}
        self._cache: dict[tuple[str, str], tuple] = {}

    def ascii_subset(self, font: str) -> str | None:
        """Subset 0's name when printable ASCII sits at its own codes there (reportlab's default)."""
        name = self._ascii.get(font, "")
        if name == "":
            face = pdfmetrics.getFont(font)
            name = face.getSubsetInternalName(0, self._doc)
            assignments = face.state[self._doc].assignments
            if not all(assignments.get(code) == code for code in range(32, 127)):
                name = None
            self._ascii[font] = name
        return name

    def segments(self, font: str, text: str) -> tuple:
        if text.isascii() and text.isprintable():
            name = self.ascii_subset(font)
            if name is not None:
                return ((name, escapePDF(text)),)
        key = (font, text)
        hit = self._cache.get(key)
        if hit is None:
            face = pdfmetrics.getFont(font)
            hit = tuple((face.getSubsetInternalName(subset, self._doc), escapePDF(chunk))
                        for subset, chunk in face.splitString(text, self._doc))
            if len(self._cache) >= _CACHE_LIMIT * 4:
                self._cache.clear()
            self._cache[key] = hit
        return hit


_ENCODERS: WeakKeyDictionary = WeakKeyDictionary()


def _encoder(canvas: Canvas) -> _Encoder:
    encoder = _ENCODERS.get(canvas)
    if encoder is None:
        encoder = _ENCODERS[canvas] = _Encoder(canvas._doc)  # subsets belong to the document
    return encoder


class TableWriter:
    """Rows in, pages out. ``start_page(n)`` draws a page's furniture and returns the table's top."""

    def __init__(self, canvas: Canvas, layout: PageLayout, fonts: FontSet, size: float,
                 colours: dict[str, Color | None], start_page: Callable[[int], float]):
        self._canvas, self._layout, self._fonts, self._size = canvas, layout, fonts, size
        self._colours, self._start_page = colours, start_page
        self._lead = size * LEADING
        self._lefts = [layout.left + sum(c.width for c in layout.columns[:i]) for i in range(len(layout.columns))]
        self._right = self._lefts[-1] + layout.columns[-1].width if layout.columns else layout.left
        self._caches: list[dict | None] = [{} if c.type == "string" else None for c in layout.columns]
        self._header = [fonts.wrap(c.label, self._inner(i), size, bold=True) for i, c in enumerate(layout.columns)]
        self._header_height = self._height(max((len(lines) for lines in self._header), default=1))
        self.pages = 0
        self._body_rows = 0

    # ---- pages --------------------------------------------------------------------------------

    def begin(self) -> None:
        self._new_page()

    def _new_page(self) -> None:
        self.pages += 1
        top = self._start_page(self.pages)
        self._page_top, self._rules = top, []
        self._body = TextWriter(self._canvas, self._fonts, self._colours["text"], self._size)
        header = TextWriter(self._canvas, self._fonts, self._colours["header_text"], self._size)
        self._canvas.setFillColor(self._colours["header_background"])
        self._canvas.rect(self._layout.left, top - self._header_height, self._right - self._layout.left,
                          self._header_height, stroke=0, fill=1)
        self._draw_cells(header, self._header, top, 0, None, bold=True)
        header.draw()
        self._y = top - self._header_height
        self._rows_on_page = 0

    def _end_page(self) -> None:
        self._body.draw()
        canvas, left, bottom = self._canvas, self._layout.left, self._y
        canvas.setStrokeColor(self._colours["grid"])
        canvas.setLineWidth(0.3)
        for y in self._rules:
            canvas.line(left, y, self._right, y)
        for x in [*self._lefts[1:]]:
            canvas.line(x, self._page_top, x, bottom)
        canvas.rect(left, bottom, self._right - left, self._page_top - bottom, stroke=1, fill=0)
        canvas.showPage()

    def finish(self) -> int:
        """End the last page; return the page count."""
        self._end_page()
        return self.pages

    # ---- rows ---------------------------------------------------------------------------------

    def add_rows(self, columns: list[list[str]]) -> None:
        """Draw rows given column-wise (as ``cells.cell_texts`` returns them)."""
        cell_lines = self._cell_lines
        for row in zip(*columns):
            self._add_row([cell_lines(i, text) for i, text in enumerate(row)])

    def add_totals(self, texts: dict[str, str], label: str) -> None:
        """A bold last row: the totals under their columns, ``label`` in the first column if free."""
        cells = [texts.get(c.name, "") for c in self._layout.columns]
        if cells and not cells[0] and label:
            cells[0] = label
        self._rules.append(self._y)  # a double rule above the totals
        self._add_row([self._fonts.wrap(t, self._inner(i), self._size, bold=True) if t else _EMPTY
                       for i, t in enumerate(cells)], bold=True, zebra=False)

    def _add_row(self, cells: list[Lines], bold: bool = False, zebra: bool = True) -> None:
        count = max(1, max(len(lines) for lines in cells))
        first = 0
        while True:
            room = math.floor((self._y - self._layout.bottom - 2 * CELL_PAD_Y) / self._lead)
            if count - first > room and self._rows_on_page:  # move the row whole to a fresh page
                self._end_page()
                self._new_page()
                continue
            take = min(count - first, max(room, 1))
            height = self._height(take)
            if zebra and self._body_rows % 2 and self._colours["zebra"] is not None:
                self._canvas.setFillColor(self._colours["zebra"])
                self._canvas.rect(self._layout.left, self._y - height, self._right - self._layout.left,
                                  height, stroke=0, fill=1)
            self._draw_cells(self._body, cells, self._y, first, first + take, bold=bold)
            self._y -= height
            self._rules.append(self._y)
            self._rows_on_page += 1
            first += take
            if first >= count:
                break
            self._end_page()  # taller than a page: the rest of the row continues overleaf
            self._new_page()
        if zebra:
            self._body_rows += 1

    def _draw_cells(self, writer: TextWriter, cells: list[Lines], top: float, first: int, last: int | None,
                    bold: bool) -> None:
        baseline0 = top - CELL_PAD_Y - 0.95 * self._size
        for i, lines in enumerate(cells):
            if not lines:
                continue
            column, left = self._layout.columns[i], self._lefts[i]
            for offset, (text, width) in enumerate(lines[first:last]):
                if not text:
                    continue
                if column.align == "right":
                    x = left + column.width - CELL_PAD_X - width
                elif column.align == "center":
                    x = left + (column.width - width) / 2
                else:
                    x = left + CELL_PAD_X
                writer.line(x, baseline0 - offset * self._lead, text, bold)

    def _cell_lines(self, index: int, text: str) -> Lines:
        if not text:
            return _EMPTY
        cache = self._caches[index]
        if cache is not None:
            hit = cache.get(text)
            if hit is not None:
                return hit
        inner = self._inner(index)
        width = self._fonts.width(text, self._size)
        if width <= inner + 0.01 and (cache is None or not any(c in text for c in "\n\r\t")):
            lines: Lines = ((text, width),)
        else:
            lines = self._fonts.wrap(text, inner, self._size)
        if cache is not None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[text] = lines
        return lines

    def _inner(self, index: int) -> float:
        return max(1.0, self._layout.columns[index].width - 2 * CELL_PAD_X)

    def _height(self, lines: int) -> float:
        return lines * self._lead + 2 * CELL_PAD_Y

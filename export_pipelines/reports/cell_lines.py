"""The lines a cell's text takes in its column: measured once, with caches for repeated text.

Shared by the table writer, which draws the lines, and by the page-range planner, which only
counts them to know where pages break; both must agree to the line for ranges to join up.
"""

from __future__ import annotations

from collections.abc import Sequence

from export_pipelines.reports.fonts import FontSet
from export_pipelines.reports.layout import CELL_PAD_X, PageLayout

_CACHE_LIMIT = 4096  # distinct texts remembered per text column
EMPTY: tuple = ()
Lines = Sequence[tuple[str, float]]
_ZEROS = str.maketrans("123456789", "000000000")


class CellLines:
    """``lines(column, text)``: the wrapped lines of a cell, each with its drawn width."""

    def __init__(self, layout: PageLayout, fonts: FontSet, size: float):
        self._fonts, self._size = fonts, size
        self.inner = [max(1.0, column.width - 2 * CELL_PAD_X) for column in layout.columns]
        self._caches: list[dict | None] = [{} if c.type == "string" else None for c in layout.columns]
        # Numbers, dates and timestamps: with digits of one width (Noto Sans's), a text is as wide as its
        # shape, every digit made 0, and a column holds few shapes: their widths are remembered.
        self._shapes: dict[str, float] | None = None
        if len({fonts.width(digit, size) for digit in "0123456789"}) == 1:
            self._shapes = {}
        self.shaped = [cache is None and self._shapes is not None for cache in self._caches]  # measured by shape

    def lines(self, index: int, text: str) -> Lines:
        if not text:
            return EMPTY
        cache = self._caches[index]
        if cache is not None:
            hit = cache.get(text)
            if hit is not None:
                return hit
        inner = self.inner[index]
        if cache is None and self._shapes is not None:
            shape = text.translate(_ZEROS)
            width = self._shapes.get(shape)
            if width is None:
                if len(self._shapes) >= _CACHE_LIMIT:
                    self._shapes.clear()
                width = self._shapes[shape] = self._fonts.width(shape, self._size)
        else:
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

    def bold(self, index: int, text: str) -> Lines:
        """A header or totals cell: bold, wrapped, never cached."""
        return self._fonts.wrap(text, self.inner[index], self._size, bold=True) if text else EMPTY

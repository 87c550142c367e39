"""Where a report's rows fall on its pages: the rule both the drawing and the range planning follow.

A row taller than the room left on a page moves whole to the next page; a row taller than a whole
page is cut at the page bottom and continues overleaf, so nothing is ever cut off. The rule is
kept in one place because page ranges rendered apart must break exactly where one renderer would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from export_pipelines.reports.layout import CELL_PAD_Y, LEADING


class Paginator:
    """Places rows of a given line count; ``turn_page()`` starts the next page and returns the y rows start at."""

    def __init__(self, bottom: float, size: float, turn_page: Callable[[], float]):
        self._bottom, self.lead, self._turn_page = bottom, size * LEADING, turn_page
        self.y = 0.0
        self.rows_on_page = 0
        self._line_height = self.height(1)

    def turn(self) -> None:
        self.y = self._turn_page()
        self.rows_on_page = 0

    def height(self, lines: int) -> float:
        return lines * self.lead + 2 * CELL_PAD_Y

    def starts_page(self, count: int) -> bool:
        """Whether a row of ``count`` lines placed now goes to a fresh page (moved whole, not continued)."""
        return count > self._room() and self.rows_on_page > 0

    def place_line(self) -> float | None:
        """A one-line row's top y if it fits on this page, the usual case, placed without a generator;
        None when it does not, and ``place(1)`` turns the page."""
        if self._room() < 1:
            return None
        top = self.y
        self.y -= self._line_height
        self.rows_on_page += 1
        return top

    def place(self, count: int) -> Iterator[tuple[int, int, float]]:
        """The pieces of a row of ``count`` lines: (first line, lines, top y), a page turned between pieces."""
        first = 0
        while True:
            room = self._room()
            if count - first > room and self.rows_on_page:  # move the row whole to a fresh page
                self.turn()
                continue
            take = min(count - first, max(room, 1))
            yield first, take, self.y
            self.y -= self.height(take)
            self.rows_on_page += 1
            first += take
            if first >= count:
                return
            self.turn()  # taller than a page: the rest of the row continues overleaf

    def _room(self) -> int:
        return math.floor((self.y - self._bottom - 2 * CELL_PAD_Y) / self.lead)

"""Page furniture: the header and footer bands of every page and the first page's summary.

"Page N of M" and the row count are not known while pages stream out. Rather than keep every
page in memory to stamp them at the end (reportlab's usual deferred-canvas recipe), each such
placeholder is drawn as a reference to a PDF form XObject, and the forms are defined once, at
the end, with the real numbers: memory stays flat however many pages there are. The text after
a placeholder starts after room for ``DEFERRED_ROOM`` characters.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from export_pipelines.reports.fonts import FontSet
from export_pipelines.reports.layout import MARGIN, PageLayout
from export_pipelines.reports.template import Band, ReportTemplate
from export_pipelines.reports.text_writer import TextWriter

DEFERRED_ROOM = {"pages": "0000", "rows": "000,000,000"}  # wider numbers run into the margin
LOGO_HEIGHT = 14 * mm
_BAND_Y = 0.45 * MARGIN  # band baselines sit in the page margins


@dataclass(frozen=True)
class ReportFacts:
    """What the header, footer and first page say besides the placeholders filled at the end."""

    title: str
    generated_at: str
    export_id: str
    timezone: str
    filters: tuple[str, ...]
    user: str = ""


class Furniture:
    """Draws bands and the first-page summary; ``finish`` defines the deferred numbers."""

    def __init__(self, canvas: Canvas, fonts: FontSet, template: ReportTemplate, layout: PageLayout,
                 facts: ReportFacts):
        self._canvas, self._fonts, self._template, self._layout = canvas, fonts, template, layout
        self._facts = facts
        self._size = template.font_size
        self._colour = template.colours["text"]
        self._values = {"title": facts.title, "generated_at": facts.generated_at, "export_id": facts.export_id,
                        "user": facts.user, "timezone": facts.timezone}
        self._forms: dict[tuple[str, float], str] = {}

    def start_page(self, page: int) -> float:
        """Draw page ``page``'s bands (and the summary on page one); return where the table starts."""
        layout = self._layout
        writer = TextWriter(self._canvas, self._fonts, self._colour, self._size)
        self._band(writer, self._template.header, layout.height - _BAND_Y - self._size, page)
        self._band(writer, self._template.footer, _BAND_Y, page)
        top = layout.top
        if page == 1:
            top = self._summary(writer, top)
        writer.draw()
        return top

    def finish(self, pages: int, rows: int) -> None:
        """Define every deferred number's form, now that the totals are known."""
        values = {"pages": str(pages), "rows": f"{rows:,}"}
        for (name, size), form in self._forms.items():
            self._canvas.beginForm(form, lowerx=-size, lowery=-size, upperx=40 * size, uppery=2 * size)
            writer = TextWriter(self._canvas, self._fonts, self._colour, size)
            writer.line(0, 0, values[name], size=size)
            writer.draw()
            self._canvas.endForm()

    # ---- pieces -------------------------------------------------------------------------------

    def _band(self, writer: TextWriter, band: Band, y: float, page: int) -> None:
        layout = self._layout
        parts = [part for part in (band.left, band.center, band.right) if part]
        room = (layout.right - layout.left) / max(1, len(parts)) - 6  # a long title shrinks, never overlaps
        self._text(writer, band.left, layout.left, y, page, "left", fit=room)
        self._text(writer, band.center, (layout.left + layout.right) / 2, y, page, "center", fit=room)
        self._text(writer, band.right, layout.right, y, page, "right", fit=room)

    def _text(self, writer: TextWriter, pattern: str, x: float, y: float, page: int, align: str,
              size: float | None = None, bold: bool = False, fit: float | None = None) -> None:
        """Draw a template text on one line; {pages} and {rows} become forms filled in by ``finish``.

        With ``fit``, a text wider than that is drawn smaller (down to 4.5 pt) rather than cut.
        """
        if not pattern:
            return
        size = size or self._size
        pieces = self._pieces(pattern, page)
        widths = self._widths(pieces, size, bold)
        if fit is not None and sum(widths) > fit:
            size = max(4.5, round(size * fit / sum(widths), 1))
            widths = self._widths(pieces, size, bold)
        total = sum(widths)
        x -= total if align == "right" else total / 2 if align == "center" else 0
        for (kind, value), width in zip(pieces, widths):
            if kind == "text":
                writer.line(x, y, value, bold=bold, size=size)
            else:
                writer.draw()  # keep the content in reading order: text so far, then the number
                self._canvas.saveState()
                self._canvas.translate(x, y)
                self._canvas.doForm(self._form(value, size))
                self._canvas.restoreState()
            x += width

    def _pieces(self, pattern: str, page: int) -> list[tuple[str, str]]:
        """("text", words) and ("form", placeholder) in order; line breaks in values become spaces."""
        pieces = []
        for literal, name, _, _ in string.Formatter().parse(pattern):
            if literal:
                pieces.append(("text", literal))
            if name in DEFERRED_ROOM:
                pieces.append(("form", name))
            elif name is not None:
                value = str(page) if name == "page" else self._values.get(name, "")
                pieces.append(("text", " ".join(value.split()) if not value.isprintable() else value))
        return pieces

    def _widths(self, pieces: list[tuple[str, str]], size: float, bold: bool) -> list[float]:
        width = self._fonts.width
        return [width(value if kind == "text" else DEFERRED_ROOM[value], size, bold) for kind, value in pieces]

    def _form(self, name: str, size: float) -> str:
        return self._forms.setdefault((name, size), f"rpt_{name}_{len(self._forms)}")

    def _summary(self, writer: TextWriter, top: float) -> float:
        """Logo, title, generation time, row count and filters; return the y below them."""
        layout, size, facts = self._layout, self._size, self._facts
        room = layout.right - layout.left
        if self._template.logo is not None:
            image = ImageReader(str(self._template.logo))
            width, height = image.getSize()
            logo_width = LOGO_HEIGHT * width / height
            self._canvas.drawImage(image, layout.right - logo_width, top - LOGO_HEIGHT, logo_width, LOGO_HEIGHT,
                                   mask="auto")
            room -= logo_width + 4 * mm
        title_size = size * 2
        y = top - title_size
        title = self._template.title
        if any(f"{{{name}}}" in title for name in DEFERRED_ROOM):  # one line: forms cannot wrap
            self._text(writer, title, layout.left, y, 1, "left", size=title_size, bold=True)
        else:
            lines = self._fonts.wrap(self._fill(title), room, title_size, bold=True)
            for index, (line, _) in enumerate(lines):
                writer.line(layout.left, y - index * title_size * 1.2, line, bold=True, size=title_size)
            y -= (len(lines) - 1) * title_size * 1.2
        subtitle, subtitle_size = self._template.subtitle, size * 1.4
        if any(f"{{{name}}}" in subtitle for name in DEFERRED_ROOM):
            y -= subtitle_size * 1.5
            self._text(writer, subtitle, layout.left, y, 1, "left", size=subtitle_size)
        elif subtitle:
            for line, _ in self._fonts.wrap(self._fill(subtitle), room, subtitle_size):
                y -= subtitle_size * 1.5
                writer.line(layout.left, y, line, size=subtitle_size)
        y -= size * 2.5
        info_size = size * 1.15
        lines = [f"Generated: {facts.generated_at}", f"Time zone: {facts.timezone}", "Rows: {rows}"]
        if facts.user:
            lines.append(f"Requested by: {facts.user}")
        lines += [f"Filter: {text}" for text in facts.filters] or ["Filters: none"]
        for text in lines:
            if text == "Rows: {rows}":
                self._text(writer, text, layout.left, y, 1, "left", size=info_size)
                y -= info_size * 1.3
                continue
            for line, _ in self._fonts.wrap(text, room, info_size):
                writer.line(layout.left, y, line, size=info_size)
                y -= info_size * 1.3
        if self._template.logo is not None:
            y = min(y, top - LOGO_HEIGHT)
        return y - size * 1.5

    def _fill(self, pattern: str) -> str:
        """A template text with its known placeholders filled and deferred ones left as they are."""
        values = {**self._values, "page": "1", "pages": "{pages}", "rows": "{rows}"}
        return pattern.format_map(values)

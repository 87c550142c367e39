"""Writing text onto a PDF canvas as raw text operators: the table's cells and the page furniture.

Kept apart from the table (``canvas_table``), which decides where each cell goes.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from reportlab.lib.colors import Color
from reportlab.lib.rl_accel import escapePDF
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from export_pipelines.reports.fonts import SYNTHETIC_BOLD_STROKE, FontSet

_CACHE_LIMIT = 4096  # distinct texts remembered per text column
ITALIC_SLANT = 0.21  # the bundled faces have no italic: highlighted italics are slanted (about 12 degrees)


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
        plain = self._encoder.ascii_subset(fonts.regular)
        self._plain = (plain, size) if plain is not None else None  # most cells: printable ASCII, regular

    def line(
        self, x: float, y: float, text: str, bold: bool = False, size: float | None = None, italic: bool = False
    ) -> None:
        ops = self._ops
        if not bold and not italic and size is None and text.isascii() and text.isprintable() and self._plain:
            # one run, no subset split: printable ASCII sits at its own codes in subset 0
            if self._face != self._plain or self._stroke[0]:
                self._switch_to_plain()
            ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm ({escapePDF(text)}) Tj")
            return
        size = size or self._size
        matrix = f"1 0 {ITALIC_SLANT if italic else 0} 1 {x:.2f} {y:.2f} Tm"  # italic: the glyphs slanted
        if not bold and text.isascii() and text.isprintable():
            name = self._encoder.ascii_subset(self._fonts.regular)
            if name is not None:
                if self._stroke[0]:
                    ops.append("0 Tr")
                    self._stroke = (0, 0.0)
                if self._face != (name, size):
                    ops.append(f"{name} {size:g} Tf")
                    self._face = (name, size)
                ops.append(f"{matrix} ({escapePDF(text)}) Tj")
                return
        ops.append(matrix)
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

    @property
    def writes_plain(self) -> bool:
        """Whether ``plain_ops`` gives the operator list (the face has printable ASCII at its own codes)."""
        return self._plain is not None

    def plain_ops(self) -> list[str] | None:
        """The operator list, set for printable ASCII in the regular face: a caller may append
        ``1 0 0 1 x y Tm (escaped) Tj`` lines to it until it calls ``line``. None if the face has no such subset."""
        if self._plain is None:
            return None
        if self._face != self._plain or self._stroke[0]:
            self._switch_to_plain()
        return self._ops

    def _switch_to_plain(self) -> None:
        if self._stroke[0]:
            self._ops.append("0 Tr")
            self._stroke = (0, 0.0)
        if self._face != self._plain:
            self._ops.append(f"{self._plain[0]} {self._size:g} Tf")
            self._face = self._plain

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
            hit = tuple(
                (face.getSubsetInternalName(subset, self._doc), escapePDF(chunk))
                for subset, chunk in face.splitString(text, self._doc)
            )
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

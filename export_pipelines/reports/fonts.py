"""Fonts for PDF reports: TrueType faces embedded as subsets, with per-character fallback.

No single free font covers Latin, Arabic and Chinese, so a report has a primary face and an
ordered list of fallbacks: each piece of text is split into runs, every run in the first face
that has its glyphs. The default faces come from PyPI packages (see ``BUNDLED``), so a fresh
``pip install`` renders the same file on every machine; reportlab embeds only the glyphs used.

reportlab embeds TrueType outlines only: OpenType fonts with PostScript (CFF) outlines, such as
the .otf builds of Noto Sans CJK, are refused with a message saying so. Arabic and Hebrew lines
are shaped and put in visual order before drawing (``visual_order``); characters no face has
(most emoji) are drawn as U+FFFD.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from arabic_reshaper import reshape
from bidi import get_display
from reportlab.lib.utils import _simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

# name -> (package, file inside it, system file used when the package is missing)
BUNDLED = {
    "noto-sans": ("fontpkg_noto_sans", "files/NotoSans[wdth,wght].ttf", None),
    "noto-sans-arabic": ("fontpkg_noto_sans_arabic", "files/NotoSansArabic[wdth,wght].ttf", None),
    "wqy-microhei": (
        "paperang_p2_fonts_cjk",
        "fonts/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    ),
    "dejavu-sans": (None, None, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "dejavu-sans-bold": (None, None, "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
}
# Text drawn in a face that has no bold is filled and stroked with a line this wide (x font size).
SYNTHETIC_BOLD_STROKE = 0.04
_TOLERANCE = 0.01  # points: a text measured to fit exactly must not wrap on rounding
MISSING_GLYPH = "\ufffd"
_RUNS_LIMIT = 8192  # distinct non-ASCII texts whose runs are remembered
_INVISIBLE = ("Cc", "Cf", "Mn", "Zl", "Zp")  # controls, joiners, variation selectors, marks


_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


@lru_cache(maxsize=4096)
def visual_order(line: str) -> str:
    """A line as drawn: Arabic letters in their joined forms, right-to-left runs reversed.

    PDF text is drawn left to right in the order given, and reportlab does not shape Arabic by
    itself; arabic_reshaper picks each letter's contextual form (Unicode presentation forms,
    which Noto Sans Arabic carries) and python-bidi applies the Unicode bidi algorithm. Lines are
    wrapped first, in logical order, then each is reordered on its own.
    """
    if not _RIGHT_TO_LEFT.search(line):
        return line
    return get_display(reshape(line))


class FontError(ValueError):
    """A font named by a template cannot be found or embedded."""


def resolve_font(spec: str, base_dir: Path | None = None) -> Path:
    """The file of a bundled font name, or of a .ttf/.ttc path (relative to ``base_dir``)."""
    if spec in BUNDLED:
        package, inside, system = BUNDLED[spec]
        if package:
            try:
                path = Path(str(resources.files(package).joinpath(inside)))
                if path.is_file():
                    return path
            except ModuleNotFoundError:
                pass
        if system and Path(system).is_file():
            return Path(system)
        source = f"pip install {package.replace('_', '-')}" if package else f"install {system}"
        raise FontError(f"bundled font {spec!r} is not installed ({source})")
    path = Path(spec)
    if path.suffix.lower() not in (".ttf", ".ttc"):
        raise FontError(f"{spec!r} is neither a bundled font ({', '.join(BUNDLED)}) nor a .ttf/.ttc file")
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise FontError(f"font file {str(path)!r} does not exist")
    return path


@lru_cache(maxsize=64)
def register_face(path: Path) -> str:
    """Register the TrueType face at ``path`` once per process; return its reportlab name."""
    name = f"rpt-{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    try:
        face = TTFont(name, str(path), subfontIndex=0)
    except TTFError as error:
        hint = " (fonts with PostScript/CFF outlines cannot be embedded; use a TrueType build)"
        raise FontError(f"{path.name}: {error}{hint if 'postscript' in str(error).lower() else ''}") from None
    pdfmetrics.registerFont(face)
    return name


@dataclass(frozen=True)
class Run:
    """A piece of text drawn in one face; ``synthetic_bold`` asks for a stroked outline."""

    font: str
    text: str
    synthetic_bold: bool


class FontSet:
    """A primary face (regular, bold), its fallbacks, and text measurement across all of them."""

    def __init__(self, regular: Path, bold: Path | None, fallbacks: tuple[Path, ...]):
        self.regular = register_face(regular)
        self.bold = register_face(bold) if bold else self.regular
        self.synthetic_bold = bold is None
        self._fallbacks = tuple(register_face(path) for path in fallbacks)
        # the faces' own width methods: pdfmetrics.stringWidth looks the face up by name on every call
        self._ascii_width = {
            False: pdfmetrics.getFont(self.regular).stringWidth,
            True: pdfmetrics.getFont(self.bold).stringWidth,
        }
        self._runs: dict[tuple[str, bool], tuple[Run, ...]] = {}
        self._cmaps = {
            name: pdfmetrics.getFont(name).face.charToGlyph for name in (self.regular, self.bold, *self._fallbacks)
        }

    def runs(self, text: str, bold: bool = False) -> tuple[Run, ...]:
        """Split ``text`` into runs, each in the first face that has the glyphs.

        A character no face has is drawn as U+FFFD (a visible "�"), so a reader sees that something
        could not be drawn; spaces and marks stay in the run they belong to. Non-ASCII texts are
        remembered: names repeat, and each is both measured and drawn.
        """
        if text.isascii():
            return (Run(self.bold if bold else self.regular, text, bold and self.synthetic_bold),)
        key = (text, bold)
        runs = self._runs.get(key)
        if runs is None:
            if len(self._runs) >= _RUNS_LIMIT:
                self._runs.clear()
            runs = self._runs[key] = tuple(self._split(text, bold))
        return runs

    def _split(self, text: str, bold: bool) -> list[Run]:
        primary = self.bold if bold else self.regular
        primary_synthetic = bold and self.synthetic_bold
        text = self._drawable(visual_order(text))
        runs: list[Run] = []
        current, start = primary, 0
        for index, char in enumerate(text):
            point = ord(char)
            if point in self._cmaps[primary] and not (char.isspace() and point in self._cmaps[current]):
                face = primary
            elif point in self._cmaps[current]:
                continue
            else:
                face = self._fallback_for(point)
            if face is None or face == current:
                continue
            if index > start:
                runs.append(Run(current, text[start:index], bold and (current != primary or primary_synthetic)))
            current, start = face, index
        runs.append(Run(current, text[start:], bold and (current != primary or primary_synthetic)))
        return runs

    def _drawable(self, text: str) -> str:
        """``text`` with characters no face has (emoji, rare symbols) shown as U+FFFD, not as nothing."""
        cmaps = self._cmaps.values()
        missing = [
            c for c in text if not any(ord(c) in cmap for cmap in cmaps) and unicodedata.category(c) not in _INVISIBLE
        ]
        if not missing:
            return text
        return "".join(MISSING_GLYPH if c in missing else c for c in text)

    def _fallback_for(self, point: int) -> str | None:
        for name in self._fallbacks:
            if point in self._cmaps[name]:
                return name
        return None

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """The drawn width of ``text`` in points, whichever faces its runs use."""
        if text.isascii():
            return self._ascii_width[bold](text, size)
        return sum(pdfmetrics.stringWidth(run.text, run.font, size) for run in self.runs(text, bold))

    def wrap(self, text: str, width: float, size: float, bold: bool = False) -> list[tuple[str, float]]:
        """Lines of ``text`` no wider than ``width``, each with its width; no character is dropped.

        Explicit line breaks are kept; lines are filled word by word with reportlab's simpleSplit
        rule, and a word wider than the column (a long URL, Chinese text without spaces) is
        broken between characters instead of running into the next cell.
        """
        lines: list[tuple[str, float]] = []
        for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").split("\n"):
            for line in _simpleSplit(paragraph, width, lambda piece: self.width(piece, size, bold)) or [""]:
                line_width = self.width(line, size, bold)
                if line_width <= width + _TOLERANCE:
                    lines.append((line, line_width))
                else:
                    lines.extend(self._break_characters(line, width, size, bold))
        return lines

    def _break_characters(self, line: str, width: float, size: float, bold: bool) -> list[tuple[str, float]]:
        pieces, start, used = [], 0, 0.0
        for index, char in enumerate(line):
            advance = self.width(char, size, bold)
            if used + advance > width + _TOLERANCE and index > start:
                pieces.append((line[start:index], used))
                start, used = index, 0.0
            used += advance
        pieces.append((line[start:], used))
        return pieces

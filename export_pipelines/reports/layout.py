"""Page geometry for PDF reports: page size, orientation and column widths, fixed before row one.

Widths are planned before the first row is drawn: numbers, dates and timestamps get a natural
width that fits their widest value; text columns get the width of their widest value in a sample
(the first rows, capped, so one long note does not take the page), or a default without one.
``orientation: auto`` turns the page when the natural widths do not fit upright; when they do
not fit at all, text columns give up width first, and wrap.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import mm

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.rules import ColumnRule
from export_pipelines.display.styles import NO_RULES, DisplayRules
from export_pipelines.reports.fonts import FontSet
from export_pipelines.reports.template import ReportTemplate

PAGE_SIZES = {"A4": A4, "Letter": LETTER}
MARGIN = 12 * mm
CELL_PAD_X = 2.5
CELL_PAD_Y = 1.8
LEADING = 1.25  # line height, x font size
# Sample text of each type's widest usual value; text columns get a share of the rest.
_NATURAL = {
    "integer": "-999999999",
    "float": "-0.123456789",
    "boolean": "Yes",
    "date": "2024-12-31",
    "timestamp": "2024-12-31 23:59:59.999999 +00:00",
}
_TEXT_NATURAL = "n" * 30  # without a sample
_TEXT_MAX = "n" * 40
_TEXT_MIN = "n" * 10
_NUMERIC = ("integer", "float", "decimal")


@dataclass(frozen=True)
class ColumnLayout:
    name: str
    label: str
    type: str
    width: float  # points, padding included
    align: str  # left, center, right


@dataclass(frozen=True)
class PageLayout:
    width: float
    height: float
    landscape: bool
    columns: tuple[ColumnLayout, ...]

    @property
    def left(self) -> float:
        return MARGIN

    @property
    def right(self) -> float:
        return self.width - MARGIN

    @property
    def top(self) -> float:
        return self.height - MARGIN

    @property
    def bottom(self) -> float:
        return MARGIN


def plan_layout(template: ReportTemplate, columns: tuple[ColumnSpec, ...], fonts: FontSet,
                sample: list[list[str]] | None = None, display: DisplayRules = NO_RULES) -> PageLayout:
    """Choose the orientation and the width of every column (``sample``: cell texts by column).

    Labels and alignment: the display rules' (request over template), then the template's, then the catalog's.
    """
    size = template.font_size
    cap, floor = fonts.width(_TEXT_MAX, size), fonts.width(_TEXT_MIN, size)
    styles = [template.columns.get(column.name) for column in columns]
    rules = [display.rule(column.name) or ColumnRule() for column in columns]
    labels = [rule.label or (style.label if style and style.label else column.label)
              for column, style, rule in zip(columns, styles, rules)]  # fmt: skip
    shown = [display.locale is not None or rule != ColumnRule() for rule in rules]  # text of the display rules
    fixed = [style.width_mm * mm if style and style.width_mm else None for style in styles]
    natural, minimum = [], []
    for index, (column, label) in enumerate(zip(columns, labels)):
        # A header word is never broken unless the column has to be narrower than the word.
        longest_word = max((fonts.width(word, size, bold=True) for word in label.split()), default=0.0)
        typical = _sample(column)
        if typical is not None:
            width = fonts.width(typical, size)
            if shown[index] and sample is not None:  # a currency or a month name: as wide as the sample shows
                width = max([width, *(fonts.width(text, size) for text in set(sample[index]))])
            natural.append(2 * CELL_PAD_X + max(longest_word, width))
            minimum.append(natural[-1])
            continue
        if sample is None:
            content = fonts.width(_TEXT_NATURAL, size)
        else:
            content = min(cap, max((fonts.width(line, size) for text in set(sample[index])
                                    for line in text.splitlines()), default=0.0))
        natural.append(2 * CELL_PAD_X + max(longest_word, content))
        minimum.append(2 * CELL_PAD_X + max(longest_word, min(content, floor)))
    wanted = [f if f is not None else n for f, n in zip(fixed, natural)]
    short, long = sorted(PAGE_SIZES[template.page_size])
    if template.orientation == "auto":
        landscape = sum(wanted) > short - 2 * MARGIN
    else:
        landscape = template.orientation == "landscape"
    width, height = (long, short) if landscape else (short, long)
    widths = _fit(wanted, minimum, fixed, [_sample(c) is None for c in columns], width - 2 * MARGIN)
    laid = tuple(
        ColumnLayout(column.name, label, column.type, w,
                     rule.align or (style.align if style and style.align else _align(column)))
        for column, label, style, rule, w in zip(columns, labels, styles, rules, widths)
    )
    return PageLayout(width, height, landscape, laid)


def _sample(column: ColumnSpec) -> str | None:
    if column.type == "decimal":
        digits = "9" * (column.precision - column.scale)
        return f"-{digits}.{'9' * column.scale}" if column.scale else f"-{digits}"
    return _NATURAL.get(column.type)


def _align(column: ColumnSpec) -> str:
    return "right" if column.type in _NUMERIC else "center" if column.type == "boolean" else "left"


def _fit(wanted: list[float], minimum: list[float], fixed: list, text_like: list[bool], room: float) -> list[float]:
    """Widths that fill ``room``: text columns take the slack, or give up width first when short."""
    widths = list(wanted)
    flexible = [i for i, f in enumerate(fixed) if f is None and text_like[i]]
    slack = room - sum(widths)
    if slack >= 0:
        takers = flexible or [i for i, f in enumerate(fixed) if f is None] or list(range(len(widths)))
        share = sum(widths[i] for i in takers)
        for i in takers:
            widths[i] += slack * widths[i] / share
        return widths
    # Too wide: narrow the text columns down to their minimum, then everything not fixed, then all.
    give = sum(widths[i] - minimum[i] for i in flexible)
    if give > 0:
        cut = min(1.0, -slack / give)
        for i in flexible:
            widths[i] -= (widths[i] - minimum[i]) * cut
    for candidates in ([i for i, f in enumerate(fixed) if f is None], list(range(len(widths)))):
        excess = sum(widths) - room
        movable = sum(widths[i] for i in candidates)
        if excess <= 1e-6 or movable <= 0:
            break
        scale = max(0.0, (movable - excess) / movable)
        for i in candidates:
            widths[i] *= scale
    return widths

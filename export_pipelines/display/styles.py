"""Highlight rules (``{when: "amount > 1000", bold: true, color: "#C00000"}``) and the rules of a whole export.

A highlight's ``when`` is written in the filter language of ``where``; the request parses and checks
it against the catalog (``request.formatting``), so what reaches the renderers is a checked filter
tree (``datasets.filter_tree``) they evaluate on their own terms: Excel formulas, or Arrow masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from export_pipelines.display.rules import MAX_TEXT, ColumnRule, check_colour, known_fields
from export_pipelines.errors import ExportRequestError

HIGHLIGHT_FIELDS = ("when", "bold", "italic", "color", "background", "columns")
MAX_HIGHLIGHTS = 20


@dataclass(frozen=True)
class HighlightStyle:
    """What a highlighted cell looks like; colours are #RRGGBB."""

    bold: bool = False
    italic: bool = False
    color: str | None = None
    background: str | None = None


@dataclass(frozen=True)
class HighlightRule:
    """A highlight as written, its fields checked; ``when`` is still text."""

    when: str
    style: HighlightStyle
    columns: tuple[str, ...] = ()  # empty: the whole row


@dataclass(frozen=True)
class Highlight:
    """A checked highlight: ``condition`` is a checked filter tree over the export's columns."""

    condition: Any
    style: HighlightStyle
    columns: tuple[str, ...]  # the cells styled; empty: the whole row
    when: str  # as written, for the report and the preview


@dataclass(frozen=True)
class DisplayRules:
    """Everything an export shows differently from raw values, checked and merged (catalog < template < request)."""

    locale: str | None = None  # Babel identifier (de_DE); None: raw values where no rule says otherwise
    columns: tuple[tuple[str, ColumnRule], ...] = ()  # (column name, merged rule), for the columns that have one
    highlights: tuple[Highlight, ...] = ()
    formatted: bool = False  # CSV and JSON: write the display text instead of raw values

    def rule(self, name: str) -> ColumnRule | None:
        for column, rule in self.columns:
            if column == name:
                return rule
        return None

    def label(self, name: str, default: str) -> str:
        rule = self.rule(name)
        return rule.label if rule is not None and rule.label is not None else default


NO_RULES = DisplayRules()


def parse_highlight(raw: Any, field: str) -> HighlightRule:
    """A highlight's fields checked (its ``when`` only as text); errors name ``field`` (``highlight[0]``)."""
    given = known_fields(raw, field, "highlight", HIGHLIGHT_FIELDS)
    when = given.get("when")
    if not isinstance(when, str) or not when.strip():
        raise ExportRequestError(f"{field}.when", "is required", "a condition as in where, e.g. amount > 1000")
    for flag in ("bold", "italic"):
        if not isinstance(given.get(flag, False), bool):
            raise ExportRequestError(f"{field}.{flag}", f"{given[flag]!r} is not valid", "true, false")
    style = HighlightStyle(
        bold=given.get("bold", False),
        italic=given.get("italic", False),
        color=check_colour(given["color"], f"{field}.color") if "color" in given else None,
        background=check_colour(given["background"], f"{field}.background") if "background" in given else None,
    )
    if style == HighlightStyle():
        raise ExportRequestError(field, "styles nothing", "at least one of bold, italic, color, background")
    columns = given.get("columns", [])
    if not isinstance(columns, list | tuple) or not all(isinstance(name, str) and name for name in columns):
        raise ExportRequestError(f"{field}.columns", "must be a list of column names", "e.g. [amount]; "
                                 "leave it out to style the whole row")  # fmt: skip
    if len(when) > MAX_TEXT * 10:
        raise ExportRequestError(f"{field}.when", f"{len(when):,} characters is too long", f"at most {MAX_TEXT * 10}")
    return HighlightRule(when, style, tuple(columns))


def parse_highlights(raw: Any, field: str = "highlight") -> tuple[HighlightRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ExportRequestError(field, "must be a list of highlights", "[{when: 'amount > 1000', bold: true}]")
    if len(raw) > MAX_HIGHLIGHTS:
        raise ExportRequestError(field, f"{len(raw)} highlights", f"at most {MAX_HIGHLIGHTS}")
    return tuple(parse_highlight(item, f"{field}[{index}]") for index, item in enumerate(raw))


@dataclass(frozen=True)
class DisplayLayer:
    """The rules a PDF template brings: over the catalog's, under the request's. ``field`` names it in errors."""

    field: str
    locale: str | None = None
    columns: tuple[tuple[str, ColumnRule], ...] = ()
    highlights: tuple[HighlightRule, ...] = ()

"""Checking a template document field by field, over the defaults, before any row is read.

Every mistake is reported with the YAML path of the field (``colours.grid: ...``, ``totals[0]: ...``)
and what is allowed there. The logo and font files a template names must stay inside its folder when
it came from a request: refused on the path as written, before the file is looked for.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.utils import ImageReader

from export_pipelines.display.rules import RULE_FIELDS, check_locale, parse_rule
from export_pipelines.display.styles import DisplayLayer, parse_highlights
from export_pipelines.errors import ExportRequestError
from export_pipelines.reports.fonts import BUNDLED, FontError, register_face, resolve_font
from export_pipelines.reports.template import (
    SHIPPED_DIR,
    TEMPLATE_FIELD,
    Band,
    ColumnStyle,
    ReportTemplate,
    TemplateError,
)

PLACEHOLDERS = ("title", "generated_at", "export_id", "page", "pages", "rows", "user", "timezone")
_FIELDS = {
    "": ("title", "subtitle", "logo", "page", "fonts", "colours", "header", "footer", "columns", "totals",
         "totals_label", "locale", "highlight"),
    "page": ("size", "orientation"),
    "fonts": ("regular", "bold", "fallbacks", "size"),
    "colours": ("header_background", "header_text", "zebra", "grid", "text"),
    "header": ("left", "center", "right"),
    "footer": ("left", "center", "right"),
    "column": ("label", "width", "align", *(name for name in RULE_FIELDS if name not in ("label", "align"))),
}
_HEX = re.compile(r"^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")


def parse_template(document: dict, source: str, base_dir: Path, root: Path | None) -> ReportTemplate:
    """Check ``document`` over the defaults; relative paths are read from ``base_dir``.

    With ``root`` set, the logo and font files must be inside it.
    """
    _refuse_unknown(document, "")
    merged = merge_over(default_document(), document)
    page, fonts, colours = merged["page"], merged["fonts"], merged["colours"]
    for section in ("page", "fonts", "colours", "header", "footer"):
        _refuse_unknown(merged[section], section)
    size = _choice(page["size"], "page.size", ("A4", "Letter"))
    orientation = _choice(page["orientation"], "page.orientation", ("portrait", "landscape", "auto"))
    font_size = _number(fonts["size"], "fonts.size", 5, 14, "a number")
    fallbacks = fonts["fallbacks"] or []
    if not isinstance(fallbacks, list):
        raise TemplateError("fonts.fallbacks: must be a list of font names or .ttf/.ttc paths")
    return ReportTemplate(
        source=source,
        title=_text(merged["title"], "title"),
        subtitle=_text(merged.get("subtitle") or "", "subtitle"),
        logo=_logo(merged["logo"], base_dir, root),
        page_size=size,
        orientation=orientation,
        regular_font=_font(fonts["regular"], "fonts.regular", base_dir, root),
        bold_font=_font(fonts["bold"], "fonts.bold", base_dir, root) if fonts["bold"] else None,
        fallback_fonts=tuple(_font(f, f"fonts.fallbacks[{i}]", base_dir, root) for i, f in enumerate(fallbacks)),
        font_size=font_size,
        colours={name: _colour(value, f"colours.{name}", name == "zebra") for name, value in colours.items()},
        header=Band(**{k: _text(v or "", f"header.{k}") for k, v in merged["header"].items()}),
        footer=Band(**{k: _text(v or "", f"footer.{k}") for k, v in merged["footer"].items()}),
        columns=_column_styles(merged["columns"] or {}),
        totals=_totals(merged["totals"] or []),
        totals_label=_plain(merged["totals_label"] or "", "totals_label"),
        display=_display(merged),
    )


@lru_cache(maxsize=1)
def default_document() -> dict:
    """The shipped default template, under every other template (the builder starts from it)."""
    return yaml.safe_load((SHIPPED_DIR / "default.yaml").read_text(encoding="utf-8"))


def merge_over(base: dict, override: dict) -> dict:
    """``override`` over ``base``, section by section (``page``, ``colours``...)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = {**base[key], **value} if isinstance(base.get(key), dict) and isinstance(value, dict) else value
    return merged


def _refuse_unknown(mapping: Any, section: str, where: str | None = None) -> None:
    where = section if where is None else where
    if not isinstance(mapping, dict):
        raise TemplateError(f"{where}: must be a mapping (fields: {', '.join(_FIELDS[section])})")
    for key in mapping:
        if key not in _FIELDS[section]:
            raise TemplateError(f"{where + '.' if where else ''}{key}: unknown field "
                                f"(allowed: {', '.join(_FIELDS[section])})")


def _number(value: Any, where: str, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise TemplateError(f"{where}: {value!r} is not valid (allowed: {unit} from {low} to {high})")
    return float(value)


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    for choice in choices:
        if isinstance(value, str) and value.lower() == choice.lower():
            return choice
    raise TemplateError(f"{where}: {value!r} is not valid (allowed: {', '.join(choices)})")


def _text(value: Any, where: str) -> str:
    """A text with placeholders such as {title}; unknown placeholders are refused by name."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TemplateError(f"{where}: must be text")
    value = str(value)
    try:
        for _, name, spec, conversion in string.Formatter().parse(value):
            if name is not None and (name not in PLACEHOLDERS or spec or conversion):
                raise TemplateError(f"{where}: unknown placeholder {{{name}{':' + spec if spec else ''}}} "
                                    f"(allowed: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
    except ValueError as error:
        if isinstance(error, TemplateError):
            raise
        raise TemplateError(f"{where}: {error} (write {{{{ and }}}} for literal braces)") from None
    return value


def _plain(value: Any, where: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TemplateError(f"{where}: must be text")
    return str(value)


def _colour(value: Any, where: str, optional: bool) -> Color | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _HEX.match(value):
        allowed = "#RRGGBB such as #1F3A5F" + (", or null for none" if optional else "")
        raise TemplateError(f"{where}: {value!r} is not a colour (allowed: {allowed})")
    if len(value) == 4:
        value = "#" + "".join(c * 2 for c in value[1:])
    return HexColor(value)


def _inside(value: str, base_dir: Path, root: Path | None, where: str, allowed: str) -> Path:
    """``value`` relative to the template, refused (before it is looked for) if it leaves ``root``."""
    if root is None:
        return base_dir / Path(value).expanduser()
    relative = Path(value)
    path = (base_dir / relative).resolve()
    if relative.is_absolute() or value.startswith("~") or ".." in relative.parts or not path.is_relative_to(root):
        # The value as written, never the resolved path: where a link points is not the requester's business.
        raise TemplateError(f"{where}: {value!r} is outside the template folder (allowed: {allowed})")
    return path


def _logo(value: Any, base_dir: Path, root: Path | None) -> Path | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TemplateError("logo: must be the path of a PNG or JPEG file")
    path = _inside(value, base_dir, root, "logo", "a PNG or JPEG path relative to the template, inside its folder")
    if not path.is_file():
        raise TemplateError(f"logo: file {value!r} does not exist (paths are relative to the template)")
    try:
        ImageReader(str(path)).getSize()
    except Exception:  # reportlab/Pillow raise many types for a bad image
        raise TemplateError(f"logo: {value!r} is not a readable PNG or JPEG image") from None
    return path


def _font(value: Any, where: str, base_dir: Path, root: Path | None) -> Path:
    if not isinstance(value, str) or not value:
        raise TemplateError(f"{where}: must be a bundled font name or a .ttf/.ttc path")
    try:
        if value not in BUNDLED and Path(value).suffix:
            _inside(value, base_dir, root, where, "a bundled font name, or a .ttf/.ttc path relative to the "
                    f"template, inside its folder; bundled: {', '.join(BUNDLED)}")
        path = resolve_font(value, base_dir)
        register_face(path)
    except FontError as error:
        raise TemplateError(f"{where}: {error}") from None
    return path


def _column_styles(value: Any) -> dict[str, ColumnStyle]:
    if not isinstance(value, dict):
        raise TemplateError("columns: must map column names to {label, width, align}")
    styles = {}
    for name, style in value.items():
        where = f"columns.{name}"
        _refuse_unknown(style, "column", where)
        width, align = style.get("width"), style.get("align")
        styles[str(name)] = ColumnStyle(
            label=_plain(style["label"], f"{where}.label") if style.get("label") is not None else None,
            width_mm=_number(width, f"{where}.width", 3, 500, "millimetres") if width is not None else None,
            align=_choice(align, f"{where}.align", ("left", "center", "right")) if align is not None else None,
        )
    return styles


def _display(merged: dict) -> DisplayLayer:
    """The template's display rules: ``locale``, the rule fields of ``columns``, ``highlight``."""
    try:
        locale = check_locale(merged["locale"]) if merged.get("locale") is not None else None
        columns = tuple(
            (str(name), parse_rule({k: v for k, v in style.items() if k != "width"}, f"columns.{name}"))
            for name, style in (merged["columns"] or {}).items()
        )
        highlights = parse_highlights(merged.get("highlight"))
    except ExportRequestError as error:
        raise TemplateError(str(error)) from None
    return DisplayLayer(TEMPLATE_FIELD, locale, columns, highlights)


def _totals(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise TemplateError("totals: must be a list of column names")
    return tuple(value)

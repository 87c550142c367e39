"""One column's display rule: read from a request, a template or the catalog, checked field by field.

A rule is a mapping such as ``{number: currency, currency: EUR, decimals: 2}``. ``parse_rule`` checks
what needs no column (names, ranges, currency codes, date patterns); ``fit_rule`` then checks it
against the column's type (a currency on a text column, an hour on a date column). Every mistake
raises ``ExportRequestError`` naming the field (``formats.amount.decimals``) and what is allowed;
templates and the catalog put their own path in front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

from export_pipelines.errors import ExportRequestError

NUMBER_KINDS = ("decimal", "currency", "percent")
ALIGNMENTS = ("left", "center", "right")
DATE_STYLES = ("short", "medium", "long")
MAX_DECIMALS = 9
MAX_TEXT = 200  # characters of a label or a NULL text
NUMERIC_TYPES = ("integer", "float", "decimal")
DATE_TYPES = ("date", "timestamp")
# Pattern letters (Unicode CLDR, as Babel and ICU read them) and the lengths each may have.
PATTERN_FIELDS = {
    "y": (1, 2, 3, 4), "M": (1, 2, 3, 4), "L": (1, 2, 3, 4), "d": (1, 2), "E": (1, 2, 3, 4), "a": (1,),
    "h": (1, 2), "H": (1, 2), "m": (1, 2), "s": (1, 2), "S": (1, 2, 3, 4, 5, 6),
}  # fmt: skip
TIME_FIELDS = "ahHmsS"
PATTERN_HELP = (
    "a style (short, medium, long) or a pattern of y M L d E a h H m s S with literal text in 'quotes', "
    "e.g. dd.MM.yyyy HH:mm"
)
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class ColumnRule:
    """How one column is shown; a field left None takes the value of a rule below it, or the default."""

    label: str | None = None
    number: str | None = None  # decimal, currency or percent
    decimals: int | None = None
    thousands: bool | None = None  # group digits with the locale's separator
    currency: str | None = None  # ISO 4217 code
    datetime: str | None = None  # a style or a CLDR pattern
    null: str | None = None  # the text of a missing value
    align: str | None = None

    def over(self, base: ColumnRule | None) -> ColumnRule:
        """This rule laid over ``base``: the fields set here win."""
        if base is None:
            return self
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(base, **{name: value for name, value in given.items() if value is not None})

    def shapes_numbers(self) -> bool:
        return self.number is not None or self.decimals is not None or self.thousands is not None


RULE_FIELDS = tuple(f.name for f in fields(ColumnRule))


def known_fields(raw: Any, field: str, what: str, allowed) -> dict[str, Any]:
    """The fields of a mapping that are set (not None), each one of ``allowed``; else an error naming ``field``."""
    if not isinstance(raw, Mapping):
        raise ExportRequestError(field, f"{type(raw).__name__} is not a {what}", ", ".join(allowed))
    given = {name: value for name, value in raw.items() if value is not None}
    for name in given:
        if name not in allowed:
            raise ExportRequestError(f"{field}.{name}", f"is not a {what} field", ", ".join(allowed))
    return given


def parse_rule(raw: Any, field: str) -> ColumnRule:
    """A rule from its mapping, every value checked; a currency without ``number`` means ``number: currency``."""
    if isinstance(raw, ColumnRule):
        return raw
    given = known_fields(raw, field, "display rule", RULE_FIELDS)
    for name in ("label", "null"):
        if name in given:
            _text(given[name], f"{field}.{name}")
    if "number" in given:
        _choice(given["number"], f"{field}.number", NUMBER_KINDS)
    if "align" in given:
        _choice(given["align"], f"{field}.align", ALIGNMENTS)
    if "decimals" in given:
        decimals = given["decimals"]
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
            raise ExportRequestError(f"{field}.decimals", f"{decimals!r} is not valid", f"0 to {MAX_DECIMALS}")
    if "thousands" in given and not isinstance(given["thousands"], bool):
        raise ExportRequestError(f"{field}.thousands", f"{given['thousands']!r} is not valid", "true, false")
    if "currency" in given:
        given["currency"] = check_currency(given["currency"], f"{field}.currency")
        given.setdefault("number", "currency")
        if given["number"] != "currency":
            raise ExportRequestError(f"{field}.currency", f"is for number: currency, not {given['number']}",
                                     "leave currency out, or number: currency")  # fmt: skip
    elif given.get("number") == "currency":
        raise ExportRequestError(f"{field}.currency", "is required with number: currency", "an ISO code such as EUR")
    if "datetime" in given:
        check_pattern(given["datetime"], f"{field}.datetime")
    return ColumnRule(**given)


def fit_rule(rule: ColumnRule, column_type: str, field: str) -> ColumnRule:
    """Refuse the parts of ``rule`` a column of ``column_type`` cannot show; ``field`` names the rule."""
    if rule.shapes_numbers() and column_type not in NUMERIC_TYPES:
        name = "number" if rule.number else "decimals" if rule.decimals is not None else "thousands"
        raise ExportRequestError(f"{field}.{name}", f"applies to number columns; this one is {column_type}",
                                 "leave it out; datetime, null, label and align fit every column")  # fmt: skip
    if rule.datetime is not None:
        if column_type not in DATE_TYPES:
            raise ExportRequestError(f"{field}.datetime", f"applies to date and timestamp columns; this one is "
                                     f"{column_type}", "leave it out")  # fmt: skip
        if column_type == "date" and rule.datetime not in DATE_STYLES:
            times = sorted({token[1][0] for token in pattern_tokens(rule.datetime) if token[0] == "field"}
                           & set(TIME_FIELDS))  # fmt: skip
            if times:
                raise ExportRequestError(f"{field}.datetime", f"a date has no time of day ({', '.join(times)})",
                                         "date fields: y M L d E")  # fmt: skip
    return rule


def check_currency(value: Any, field: str) -> str:
    code = value.upper() if isinstance(value, str) else value
    if not isinstance(code, str) or code not in _currencies():
        raise ExportRequestError(field, f"{value!r} is not a currency", "an ISO 4217 code such as EUR, USD, JPY, CHF")
    return code


def check_locale(value: Any, field: str = "locale") -> str:
    """The Babel identifier of a locale written ``de-DE`` or ``de_DE`` (``de_DE``); refuse unknown ones."""
    from babel import Locale, UnknownLocaleError

    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*", value):
        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError):
            pass
    raise ExportRequestError(field, f"{value!r} is not a known locale", "a language and region such as de-DE, "
                             "en-US, fr-FR, en-GB, ja-JP")  # fmt: skip


def check_colour(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise ExportRequestError(field, f"{value!r} is not a colour", "#RRGGBB such as #C00000")
    return value.upper()


def check_pattern(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ExportRequestError(field, f"{value!r} is not a date pattern", PATTERN_HELP)
    if value in DATE_STYLES:
        return value
    try:
        tokens = pattern_tokens(value)
    except (ValueError, KeyError):
        raise ExportRequestError(field, f"{value!r} is not a date pattern", PATTERN_HELP) from None
    for kind, token in tokens:
        if kind == "field" and token[1] not in PATTERN_FIELDS.get(token[0], ()):
            raise ExportRequestError(field, f"{token[0] * token[1]!r} is not a supported field", PATTERN_HELP)
    if not any(kind == "field" for kind, _ in tokens):
        raise ExportRequestError(field, f"{value!r} has no date or time field", PATTERN_HELP)
    return value


@lru_cache(maxsize=256)
def pattern_tokens(pattern: str) -> tuple:
    """("field", (letter, count)) and ("chars", text) items of a CLDR pattern, as Babel reads it."""
    from babel.dates import tokenize_pattern

    return tuple((kind, tuple(value) if kind == "field" else value) for kind, value in tokenize_pattern(pattern))


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise ExportRequestError(field, f"{value!r} is not valid", f"text of at most {MAX_TEXT} characters")
    return value


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ExportRequestError(field, f"{value!r} is not valid", ", ".join(allowed))
    return value

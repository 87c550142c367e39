"""Dates and times as a pattern and a locale write them (``dd.MM.yyyy HH:mm``, ``d MMMM y``), a column at once.

Patterns are Unicode CLDR date patterns, read by Babel (``display.rules`` lists the letters allowed).
Numbers (day, hour...) come from Arrow's temporal kernels; names (months, weekdays, AM/PM) are
written by Babel once per locale and picked per value with ``take``. Timestamps are shown in the
wall-clock time of the zone their column carries (the request's). The text is the one Babel's
``format_datetime`` gives (a test compares them value by value).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.display.rules import DATE_STYLES, pattern_tokens

_MONDAY = datetime(2024, 1, 1)  # names are taken from dates Babel formats: a known Monday, January


@lru_cache(maxsize=256)
def resolved_pattern(value: str | None, locale: str, column_type: str) -> str:
    """The CLDR pattern of ``value``: itself, or a style's pattern in ``locale`` (None: ``medium``).

    A timestamp's ``long`` style takes the medium time: the long one names the time zone, which the
    header already does (and whose names Babel would have to look up per value).
    """
    from babel.dates import get_date_format, get_datetime_format, get_time_format

    style = value or "medium"
    if style not in DATE_STYLES:
        return style
    date = get_date_format(style, locale=locale).pattern
    if column_type == "date":
        return date
    time = get_time_format("medium" if style == "long" else style, locale=locale).pattern  # long names the zone
    return get_datetime_format(style, locale=locale).replace("{1}", date).replace("{0}", time)


def date_texts(array: pa.Array | pa.ChunkedArray, pattern: str, locale: str) -> pa.Array:
    """The text of every value of a date or timestamp column (NULL stays NULL)."""
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if pa.types.is_timestamp(array.type) and array.type.tz:
        array = pc.local_timestamp(array)
    iso = _iso_bytes(array)
    parts = []
    for kind, token in pattern_tokens(pattern):
        if kind == "chars":
            parts.append(token.encode("utf-8"))
        elif iso is not None and token in _ISO_PLACES:
            parts.append(pc.binary_slice(iso, *_ISO_PLACES[token]))
        else:
            parts.append(_field(array, token[0], token[1], locale).cast(pa.binary()))
    if len(parts) == 1:
        parts.append(b"")
    return pc.binary_join_element_wise(*parts, b"").cast(pa.string())


# Zero-padded fields are cut out of Arrow's ISO text of the value ('2024-05-31 14:00:00.000000'),
# as bytes: one cast and a slice each, instead of extracting, printing and padding every field.
_ISO_PLACES = {("y", 4): (0, 4), ("y", 2): (2, 4), ("M", 2): (5, 7), ("L", 2): (5, 7), ("d", 2): (8, 10),
               ("H", 2): (11, 13), ("m", 2): (14, 16), ("s", 2): (17, 19)}  # fmt: skip


def _iso_bytes(array: pa.Array) -> pa.Array | None:
    """Arrow's ISO text of the values as bytes; None when a year is outside 1000-9999 (not four digits)."""
    years = pc.min_max(pc.year(array))
    low, high = years["min"].as_py(), years["max"].as_py()
    if low is None or low < 1000 or high > 9999:
        return None
    return array.cast(pa.string()).cast(pa.binary())


def _field(array: pa.Array, letter: str, count: int, locale: str) -> pa.Array:
    if letter in "ML" and count >= 3:
        return _named(pc.subtract(pc.month(array), 1), _names(locale, letter * count, "month"))
    if letter == "E":
        return _named(pc.day_of_week(array), _names(locale, "E" * count, "weekday"))
    if letter == "a":
        return _named(pc.cast(pc.greater_equal(pc.hour(array), 12), pa.int8()), _names(locale, "a", "period"))
    if letter == "S":
        micros = pc.add(pc.multiply(pc.millisecond(array), 1000), pc.microsecond(array))
        return _padded(pc.divide(micros, 10 ** (6 - count)), count)
    if letter == "y":
        year = _padded(pc.year(array), count)
        return pc.utf8_slice_codeunits(year, -2) if count == 2 else year
    if letter == "h":
        hour = pc.subtract(pc.hour(array), pc.multiply(pc.divide(pc.hour(array), 12), 12))
        return _padded(pc.if_else(pc.equal(hour, 0), 12, hour), count)
    number = {"M": pc.month, "L": pc.month, "d": pc.day, "H": pc.hour, "m": pc.minute, "s": pc.second}[letter]
    return _padded(number(array), count)


def _padded(numbers: pa.Array, count: int) -> pa.Array:
    text = numbers.cast(pa.string())
    return pc.ascii_lpad(text, width=count, padding="0") if count > 1 else text


def _named(index: pa.Array, names: tuple[str, ...]) -> pa.Array:
    return pa.array(names, pa.string()).take(index)


@lru_cache(maxsize=512)
def _names(locale: str, token: str, what: str) -> tuple[str, ...]:
    """Month (12), weekday (7, Monday first) or AM/PM (2) names, as Babel writes ``token``."""
    from babel.dates import format_datetime

    if what == "month":
        moments = [_MONDAY.replace(month=month) for month in range(1, 13)]
    elif what == "weekday":
        moments = [_MONDAY + timedelta(days=day) for day in range(7)]
    else:
        moments = [_MONDAY.replace(hour=9), _MONDAY.replace(hour=21)]
    return tuple(format_datetime(moment, token, locale=locale) for moment in moments)

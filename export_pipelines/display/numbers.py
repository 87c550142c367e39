"""Numbers as a locale writes them (``1.234,50 €`` in de-DE, ``€1,234.50`` in en-US), a whole column at once.

Babel's number patterns and symbols say what to write (prefix and suffix of positive and negative
numbers, the decimal and group symbols, the grouping sizes, the currency symbol); Arrow kernels
write it for every value of a column in one pass, instead of a Babel call per cell, which would cost
more than the rest of a CSV export. The text is the one Babel's own ``NumberPattern.apply`` gives
(a test compares them value by value): rounding half to even, the sign taken before rounding.

Floats are rounded from their decimal value at 15 significant digits (of the chunk's largest value),
as Excel shows them, so 2.675 rounds as the text "2.675" reads, to 2.68; NaN and infinities are
written with the locale's symbols.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.display.rules import ColumnRule

MAX_DIGITS = 38  # decimal128


@dataclass(frozen=True)
class NumberStyle:
    """Everything about a locale's way of writing one kind of number, looked up once per column."""

    prefix: tuple[str, str]  # positive, negative
    suffix: tuple[str, str]
    grouping: tuple[int, int]  # primary, secondary group sizes
    decimal_symbol: str
    group_symbol: str
    min_decimals: int
    max_decimals: int
    scale: int  # 2 for percent: the value is shown times 100
    infinity: str
    nan: str


@lru_cache(maxsize=256)
def number_style(locale: str, kind: str, decimals: int | None, currency: str | None) -> NumberStyle:
    """The style of ``kind`` numbers in ``locale``; ``decimals`` None keeps the pattern's (currency: its own)."""
    from babel import Locale
    from babel.numbers import (
        get_currency_precision,
        get_currency_symbol,
        get_decimal_symbol,
        get_group_symbol,
        get_infinity_symbol,
    )

    loc = Locale.parse(locale)
    pattern = {
        "currency": loc.currency_formats["standard"], "percent": loc.percent_formats[None],
        "decimal": loc.decimal_formats[None],
    }[kind]  # fmt: skip
    low, high = pattern.frac_prec
    if decimals is not None:
        low = high = decimals
    elif kind == "currency":
        low = high = get_currency_precision(currency)
    symbol = get_currency_symbol(currency, loc) if currency else ""

    def literal(text: str) -> str:  # as NumberPattern.apply writes prefixes and suffixes
        text = text.replace("¤", symbol)
        return re.sub(r"'([^']*)'", lambda match: match.group(1) or "'", text)

    return NumberStyle(
        prefix=(literal(pattern.prefix[0]), literal(pattern.prefix[1])),
        suffix=(literal(pattern.suffix[0]), literal(pattern.suffix[1])),
        grouping=pattern.grouping,
        decimal_symbol=get_decimal_symbol(loc),
        group_symbol=get_group_symbol(loc),
        min_decimals=low,
        max_decimals=high,
        scale=pattern.scale,
        infinity=get_infinity_symbol(loc),
        nan="NaN",
    )


def style_for(rule: ColumnRule, locale: str, column_type: str, scale: int) -> NumberStyle:
    """The style a number column takes under ``rule``: its kind, and the decimals it shows by default."""
    kind = rule.number or "decimal"
    decimals = rule.decimals
    if decimals is None and kind == "decimal" and column_type != "float":
        decimals = scale if column_type == "decimal" else 0
    return number_style(locale, kind, decimals, rule.currency)


def number_texts(array: pa.Array | pa.ChunkedArray, style: NumberStyle, thousands: bool = True) -> pa.Array:
    """The text of every value of a number column (NULL stays NULL)."""
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    finite = None
    if pa.types.is_floating(array.type):
        finite = pc.fill_null(pc.is_finite(array), True)
        value = _float_decimals(pc.if_else(finite, array, 0.0), style.scale)
    else:
        value = array.cast(pa.decimal128(20, 0)) if pa.types.is_integer(array.type) else array
        if style.scale:
            value = _times_hundred(value)
    negative = pc.less(value, pa.scalar(Decimal(0), value.type))
    decimals = min(style.max_decimals, MAX_DIGITS - (value.type.precision - value.type.scale))
    rounded = pc.abs(value)
    if rounded.type.scale > decimals:  # a decimal column shown at its own scale needs no rounding
        rounded = pc.round(rounded, decimals, round_mode="half_to_even")
    rounded = rounded.cast(pa.decimal128(MAX_DIGITS, decimals))
    # The unscaled integer of each value (same buffers, scale 0): its text is never in scientific notation.
    digits = pa.Array.from_buffers(pa.decimal128(MAX_DIGITS, 0), len(rounded), rounded.buffers(), offset=rounded.offset)
    # Digits are ASCII: the ascii_ and binary_ kernels cut and pad them several times faster than utf8_ ones.
    digits = pc.ascii_lpad(digits.cast(pa.string()), width=decimals + 1, padding="0")
    whole = _cut(digits, 0, -decimals) if decimals else digits
    if thousands:
        whole = _grouped(whole, style.group_symbol, style.grouping)
    parts = [_signed(negative, style.prefix), whole]
    if decimals:
        fraction = _cut(digits, -decimals, None)
        if style.min_decimals < decimals:  # optional digits: trailing zeros go, and the symbol with them
            fraction = pc.utf8_rtrim(fraction, characters="0")
            if style.min_decimals:
                fraction = pc.utf8_rpad(fraction, width=style.min_decimals, padding="0")
            symbol = pc.if_else(pc.equal(fraction, ""), "", style.decimal_symbol)
        else:
            symbol = style.decimal_symbol
        parts += [symbol, fraction]
    parts.append(_signed(negative, style.suffix))
    text = pc.binary_join_element_wise(*parts, "")
    if finite is not None and not pc.all(finite).as_py():
        special = pc.if_else(pc.is_nan(array), style.nan, pc.binary_join_element_wise(
            pc.if_else(pc.less(array, 0.0), style.prefix[1], style.prefix[0]), style.infinity,
            pc.if_else(pc.less(array, 0.0), style.suffix[1], style.suffix[0]), ""))  # fmt: skip
        text = pc.if_else(finite, text, special)
    return text


def _signed(negative: pa.Array, texts: tuple[str, str]):
    """The positive or negative text of each value; one constant when both are the same (a suffix ' €')."""
    return texts[0] if texts[0] == texts[1] else pc.if_else(negative, texts[1], texts[0])


def _float_decimals(array: pa.Array, scale: int) -> pa.Array:
    """Floats as decimals at the 15 significant digits Excel shows (of the largest value), ties kept."""
    if scale:
        array = pc.multiply(array, float(10**scale))
    top = pc.max(pc.abs(array)).as_py() or 0.0
    whole_digits = math.floor(math.log10(top)) + 1 if top >= 1 else 0
    if whole_digits > MAX_DIGITS - 1:  # beyond decimal128: whole numbers anyway, at double precision
        return pc.round(array, 0).cast(pa.decimal256(76, 0)).cast(pa.decimal128(MAX_DIGITS, 0), safe=False)
    return array.cast(pa.decimal128(MAX_DIGITS, max(0, min(15 - whole_digits, MAX_DIGITS - whole_digits - 1))))


def _times_hundred(array: pa.Array) -> pa.Array:
    """A decimal array times 100, by moving the decimal point (the unscaled integers stay as they are)."""
    kind = array.type
    if kind.scale < 2:
        kind = pa.decimal128(min(MAX_DIGITS, kind.precision + 2 - kind.scale), 2)
        array = array.cast(kind)
    shifted = pa.decimal128(kind.precision, kind.scale - 2)
    return pa.Array.from_buffers(shifted, len(array), array.buffers(), offset=array.offset)


def _grouped(whole: pa.Array, symbol: str, grouping: tuple[int, int]) -> pa.Array:
    """Digits with ``symbol`` between groups (3 digits; India: 3, then 2), as Babel's ``_format_int``."""
    width = pc.max(pc.utf8_length(whole)).as_py() or 0
    if width <= grouping[0]:
        return whole
    padded = pc.ascii_lpad(whole, width=width, padding=" ").cast(pa.binary())  # spaces: a 0 is never trimmed
    cuts, end, size = [], width, grouping[0]
    while end > 0:
        cuts.append((max(end - size, 0), end))
        end, size = end - size, grouping[1]
    joined = pc.binary_join_element_wise(*(pc.binary_slice(padded, a, b) for a, b in reversed(cuts)), symbol.encode())
    return pc.utf8_ltrim(joined.cast(pa.string()), characters=" " + symbol)


def _cut(digits: pa.Array, start: int, stop: int | None) -> pa.Array:
    """``digits[start:stop]`` of every value (ASCII text), as text."""
    return pc.binary_slice(digits.cast(pa.binary()), start, stop).cast(pa.string())

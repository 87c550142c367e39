"""The display text of a column: the one function per column that PDF and formatted CSV/JSON apply to every chunk.

Which columns are shown as text, and how, is decided once per export (``column_formatters``), so a
chunk costs a few Arrow kernels per formatted column and no per-cell dispatch. A column keeps its raw
values when no rule names it and no locale is given; a locale alone formats decimal and float columns
(with the catalog's scale) and dates and timestamps (the locale's medium style), and leaves integers,
which are mostly identifiers, as plain digits.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.display.dates import date_texts, resolved_pattern
from export_pipelines.display.numbers import number_texts, style_for
from export_pipelines.display.rules import DATE_TYPES, NUMERIC_TYPES, ColumnRule
from export_pipelines.display.styles import DisplayRules

DEFAULT_LOCALE = "en_US"  # for rules given without a locale
Formatter = Callable[[pa.Array | pa.ChunkedArray], pa.Array]


def column_formatter(column_type: str, scale: int, rule: ColumnRule | None, locale: str | None) -> Formatter | None:
    """The function that turns a chunk of the column into display text; None: the column stays as it is."""
    if rule is None and locale is None:
        return None
    rule = rule or ColumnRule()
    locale = locale or DEFAULT_LOCALE
    convert: Formatter | None = None
    if column_type in NUMERIC_TYPES and (rule.shapes_numbers() or column_type != "integer"):
        style = style_for(rule, locale, column_type, scale)
        thousands = True if rule.thousands is None else rule.thousands

        def convert(array):
            return number_texts(array, style, thousands)

    elif column_type in DATE_TYPES:
        pattern = resolved_pattern(rule.datetime, locale, column_type)

        def convert(array):
            return date_texts(array, pattern, locale)

    if convert is not None and column_type != "timestamp":  # timestamps rarely repeat: not worth the look
        convert = _once_per_distinct_value(convert)
    if rule.null is None:
        return convert
    null = rule.null

    def with_null(array):
        text = convert(array) if convert else array
        if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
            text = text.cast(pa.string())
        return pc.fill_null(text, null)

    return with_null


def _once_per_distinct_value(convert: Formatter) -> Formatter:
    """``convert`` applied to each distinct value only, when values repeat (dates, rates, quantities).

    Dictionary-encoding a chunk costs less than a tenth of writing its text, so a column whose values
    repeat three times or more on average is written a third as often, and picked by index.
    """

    def repeated(array):
        array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        encoded = pc.dictionary_encode(array)
        if len(encoded.dictionary) * 3 > len(array):
            return convert(array)
        return convert(encoded.dictionary).take(encoded.indices)

    return repeated


def column_formatters(columns, rules: DisplayRules) -> list[Formatter | None]:
    """One formatter (or None) per column of ``columns`` (catalog ``ColumnSpec``s), in order."""
    return [column_formatter(c.type, c.scale, rules.rule(c.name), rules.locale) for c in columns]


def formatted_table(table: pa.Table, formatters: list[Formatter | None]) -> pa.Table:
    """``table`` with each column that has a formatter replaced by its display text."""
    for index, convert in enumerate(formatters):
        if convert is not None:
            table = table.set_column(index, table.schema.field(index).name, convert(table.column(index)))
    return table

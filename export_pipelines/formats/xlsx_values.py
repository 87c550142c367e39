"""Cell values of number, date and timestamp columns as Excel holds them: numbers, serial dates, or exact text.

See the xlsx module's docstring for what each type becomes. Everything is vectorised: a column becomes
the text of each cell's ``<v>`` number (null: no cell) and, where Excel would change a value, the exact
text the cell holds instead. Only the rare doubles whose shortest text has 17 digits are formatted one
by one, as ``%.16G`` (XlsxWriter's format), so openpyxl reads the same value from these files as from
earlier ones. Timestamps keep the double's shortest text: a reader rounds to the same millisecond.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

EPOCH_SERIAL = 25_569  # 1970-01-01 in Excel's 1900 date system
FIRST_SERIAL, END_SERIAL = 61, 2_958_466  # 1900-03-01 up to 10000-01-01
EXACT_DIGITS = 15  # significant digits Excel keeps


def excel_numbers(array: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """``<v>`` texts of a number, date or timestamp column (null: no cell), and the exact texts (null: a number).

    The second array is None when no value had to be text.
    """
    kind = array.type
    if pa.types.is_floating(kind):
        return double_texts(pc.if_else(pc.is_finite(array), array, pa.scalar(None, kind))), None
    if pa.types.is_timestamp(kind):
        local = pc.local_timestamp(array) if kind.tz else array
        millis = pc.floor_temporal(local, unit="millisecond").cast(pa.timestamp("ms")).cast(pa.int64())
        serials = pc.add(pc.divide(millis.cast(pa.float64()), 86_400_000.0), float(EPOCH_SERIAL))
        numbers = serials.cast(pa.string())  # the shortest text of the double: the same millisecond as %.16G
        as_text = _outside(serials, FIRST_SERIAL, END_SERIAL)
        text = lambda: pc.strftime(local, format="%Y-%m-%d %H:%M:%S")  # noqa: E731
    elif pa.types.is_date(kind):
        serials = pc.add(array.cast(pa.int32()).cast(pa.int64()), EPOCH_SERIAL)
        numbers = serials.cast(pa.string())
        as_text = _outside(serials, FIRST_SERIAL, END_SERIAL)
        text = lambda: array.cast(pa.string())  # noqa: E731
    elif pa.types.is_decimal(kind):
        exact = array.cast(pa.string())
        doubles = exact.cast(pa.float64())  # parsing the text is exact; a direct cast can miss by one ulp
        # Up to 15 digits, the shortest text of the double is the decimal's own value, as %.16G writes it.
        numbers = double_texts(doubles) if kind.precision > EXACT_DIGITS else doubles.cast(pa.string())
        limit = Decimal(10) ** (EXACT_DIGITS - kind.scale)
        as_text = _beyond(array, pa.scalar(limit, kind)) if kind.precision > EXACT_DIGITS else None
        text = lambda: exact  # noqa: E731
    else:
        numbers = array.cast(pa.string())
        as_text = _beyond(array, 10**EXACT_DIGITS)
        text = lambda: numbers  # noqa: E731
    if as_text is None or not pc.any(as_text).as_py():
        return numbers, None
    as_text = pc.fill_null(as_text, False)
    return pc.if_else(as_text, pa.scalar(None, pa.string()), numbers), pc.if_else(as_text, text(), None)


def double_texts(doubles: pa.Array) -> pa.Array:
    """Doubles as the numbers ``%.16G`` gives (as XlsxWriter writes them): the same value read back, the same type.

    Arrow's shortest round-trip text parses to the same double whenever it has at most 16 digits; it is
    kept then, except where it has an exponent and ``%.16G`` none (from 1 up to 1e16: Arrow writes
    large whole numbers as 4.2e+14, which a reader takes for a float, and ``%.16G`` as an integer).
    """
    texts = doubles.cast(pa.string())
    digits = pc.utf8_trim(pc.replace_substring_regex(texts, r"e.*$|[-.]", ""), "0")
    magnitude = pc.abs(doubles)
    exponent_where_g_has_none = pc.and_(
        pc.match_substring(texts, "e"), pc.and_(pc.greater_equal(magnitude, 1.0), pc.less(magnitude, 1e16))
    )
    redo = pc.or_(pc.greater(pc.utf8_length(digits), 16), exponent_where_g_has_none)
    redo = pc.fill_null(redo, False)
    if not pc.any(redo).as_py():
        return texts
    again = doubles.filter(redo).to_pylist()
    return pc.replace_with_mask(texts, redo, pa.array([f"{value:.16G}" for value in again], pa.string()))


def _outside(serials, first: int, end: int):
    return pc.or_(pc.less(serials, first), pc.greater_equal(serials, end))


def _beyond(array, limit):
    return pc.or_(pc.greater_equal(array, limit), pc.less_equal(array, pc.negate(limit)))

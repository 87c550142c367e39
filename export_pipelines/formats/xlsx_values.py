"""Cell values of number, date and timestamp columns as Excel holds them: numbers, serial dates, or exact text.

See the xlsx module's docstring for what each type becomes; these conversions are vectorised, and only
the rare values Excel would change are looked at one by one.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

EPOCH_SERIAL = 25_569  # 1970-01-01 in Excel's 1900 date system
FIRST_SERIAL, END_SERIAL = 61, 2_958_466  # 1900-03-01 up to 10000-01-01
EXACT_DIGITS = 15  # significant digits Excel keeps


def excel_numbers(array: pa.ChunkedArray) -> tuple[list, bool]:
    """Cell values of a number, date or timestamp column, and whether any had to be exact text.

    Conversions are vectorised; only the rare values Excel would change are looked at one by one.
    """
    kind = array.type
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(array), array, pa.scalar(None, kind)).to_pylist(), False
    if pa.types.is_timestamp(kind):
        local = pc.local_timestamp(array) if kind.tz else array
        millis = pc.floor_temporal(local, unit="millisecond").cast(pa.timestamp("ms")).cast(pa.int64())
        numbers = pc.add(pc.divide(millis.cast(pa.float64()), 86_400_000.0), float(EPOCH_SERIAL))
        as_text = _outside(numbers, FIRST_SERIAL, END_SERIAL)
        text = lambda: pc.strftime(local, format="%Y-%m-%d %H:%M:%S")  # noqa: E731
    elif pa.types.is_date(kind):
        numbers = pc.add(array.cast(pa.int32()).cast(pa.int64()), EPOCH_SERIAL)
        as_text = _outside(numbers, FIRST_SERIAL, END_SERIAL)
        text = lambda: array.cast(pa.string())  # noqa: E731
    elif pa.types.is_decimal(kind):
        exact = array.cast(pa.string())
        numbers = exact.cast(pa.float64())  # parsing the text is exact; Arrow's direct cast can miss by one ulp
        limit = Decimal(10) ** (EXACT_DIGITS - kind.scale)
        as_text = _beyond(array, pa.scalar(limit, kind)) if kind.precision > EXACT_DIGITS else None
        text = lambda: exact  # noqa: E731
    else:
        numbers = array
        as_text = _beyond(array, 10**EXACT_DIGITS)
        text = lambda: array.cast(pa.string())  # noqa: E731
    values = numbers.to_pylist()
    if as_text is None or not pc.any(as_text).as_py():
        return values, False
    texts = text()
    for index in pc.indices_nonzero(as_text.combine_chunks()).to_pylist():
        values[index] = texts[index].as_py()
    return values, True


def _outside(serials, first: int, end: int):
    return pc.or_(pc.less(serials, first), pc.greater_equal(serials, end))


def _beyond(array, limit):
    return pc.or_(pc.greater_equal(array, limit), pc.less_equal(array, pc.negate(limit)))

"""Vectorised conversions shared by text formats, so no format formats values row by row."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

_PER_MINUTE = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}
_OFFSET = re.compile(r"^[+-]\d\d:\d\d$")
# Zones whose offset never changes: UTC under its many names, and the Etc/GMT±N family.
_UTC_NAMES = {"UTC", "GMT", "Z", "Zulu", "Universal", "Greenwich", "GMT0", "GMT+0", "GMT-0", "UCT"}


def iso_timestamps(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """ISO 8601 with the offset of the array's time zone, e.g. 2024-05-31T14:00:00.000000+02:00.

    Built from Arrow kernels (wall-clock cast plus an offset computed per value) rather than
    strftime, which is five times slower and made timestamps the largest cost of a CSV render.
    A zone with one fixed offset (UTC, the default) skips the per-value offset: 3x cheaper again.
    """
    fixed = fixed_offset(array.type.tz)
    if fixed is not None:
        wall = array.cast(pa.timestamp(array.type.unit))
        if fixed:
            wall = pc.add(wall, pa.scalar(fixed, pa.duration(array.type.unit)))
        return pc.binary_join_element_wise(_iso_wall_clock(wall), _offset_text(fixed), "")
    local = pc.local_timestamp(array)
    minutes = pc.divide(pc.subtract(local.cast(pa.int64()), array.cast(pa.int64())), _PER_MINUTE[array.type.unit])
    sign = pc.if_else(pc.less(minutes, 0), "-", "+")
    absolute = pc.abs(minutes)
    hours = pc.divide(absolute, 60)
    rest = pc.subtract(absolute, pc.multiply(hours, 60))

    def two_digits(values):
        return pc.utf8_lpad(values.cast(pa.string()), width=2, padding="0")

    return pc.binary_join_element_wise(_iso_wall_clock(local), sign, two_digits(hours), ":", two_digits(rest), "")


def with_text_timestamps(table: pa.Table) -> pa.Table:
    """Replace every timestamp column by its ISO 8601 text; other columns are left as they are."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(index, field.name, iso_timestamps(table.column(index)))
    return table


@lru_cache(maxsize=64)
def fixed_offset(zone: str | None) -> timedelta | None:
    """The zone's offset from UTC if it never changes (UTC, '+02:00', Etc/GMT-2), else None."""
    if not zone:
        return None
    if _OFFSET.match(zone):
        sign = -1 if zone[0] == "-" else 1
        return sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    name = zone.removeprefix("Etc/")
    if name in _UTC_NAMES or (zone.startswith("Etc/GMT") and name != zone):
        return ZoneInfo(zone).utcoffset(datetime(2000, 1, 1))
    return None


def _iso_wall_clock(wall: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """'2024-05-31 14:00:00.000000' (Arrow's text for a timestamp) with the ISO 'T' in the middle."""
    return pc.replace_substring(wall.cast(pa.string()), pattern=" ", replacement="T", max_replacements=1)


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

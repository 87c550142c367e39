"""ISO timestamps: the fixed-offset shortcut writes exactly what the general per-value path writes."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from export_pipelines.formats import text_values
from export_pipelines.formats.text_values import fixed_offset, iso_timestamps

# From 1677 to 2262 (the int64 nanosecond range is not the limit here: microseconds), NULLs included.
MICROSECONDS = [-9_000_000_000_000_000, -1, 0, 1, 1_700_000_000_123_456, 4_000_000_000_000_000, None]


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "GMT", "Etc/GMT-14", "Etc/GMT+12", "+05:30", "-03:45", "+00:00"])
def test_fixed_offset_zones_take_the_shortcut_and_write_the_same_text(zone, monkeypatch):
    array = pa.array(MICROSECONDS, pa.timestamp("us", tz=zone))
    assert fixed_offset(zone) is not None

    shortcut = iso_timestamps(array)
    monkeypatch.setattr(text_values, "fixed_offset", lambda _zone: None)
    general = iso_timestamps(array)

    assert shortcut.equals(general)
    assert shortcut[6].as_py() is None


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", timedelta(0)), ("Etc/GMT-2", timedelta(hours=2)), ("Etc/GMT+5", timedelta(hours=-5)),
     ("+05:30", timedelta(hours=5, minutes=30)), ("-03:45", -timedelta(hours=3, minutes=45))],
)
def test_fixed_offsets_are_read_with_their_sign(zone, offset):
    assert fixed_offset(zone) == offset


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Etc/Unknown-ish", None, ""])
def test_zones_that_change_or_are_unknown_take_the_general_path(zone):
    assert fixed_offset(zone) is None


def test_the_text_carries_the_zone_offset():
    array = pa.array([1_700_000_000_123_456], pa.timestamp("us", tz="Etc/GMT+5"))

    assert iso_timestamps(array)[0].as_py() == "2023-11-14T17:13:20.123456-05:00"

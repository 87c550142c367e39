"""Relative dates for the ``within`` operator: ``today``, ``last 30 days``, ``previous quarter``...

A phrase is resolved to a half-open range of local calendar days ``[start, end)`` in the request's
time zone, at one moment: when the run starts (``validate_request``), or a subscription's tick.
On a timestamp column the days run from local midnight to local midnight, so a day is 23 or 25
hours long across a DST change and two consecutive ranges never share a row; the run records the
absolute range it used (see ``Condition.describe``).

- ``today``, ``yesterday``: that local day.
- ``last N days`` / ``weeks``: the N complete days (7·N for weeks) before today; today is not in it,
  like a subscription's ``day`` and ``week`` windows, so a morning export never holds half a day.
- ``last N months``: from the same day N months before today (the month's last day when it has no
  such day) up to today.
- ``this week|month|quarter|year``: the whole current period, today included (weeks start on Monday).
- ``previous week|month|quarter|year``: the whole period before the current one.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# One regular expression for the text grammar's RELATIVE token and for the value of a ``within`` filter.
PHRASE_PATTERN = (
    r"(today|yesterday|last\s+[0-9]+\s+(days?|weeks?|months?)|(this|previous)\s+(week|month|quarter|year))\b"
)
_PHRASE = re.compile(rf"^\s*{PHRASE_PATTERN}\s*$", re.IGNORECASE)
MAX_COUNT = 10_000  # last 10,000 days is 27 years: anything longer is a mistake
EXAMPLES = "today, yesterday, last N days|weeks|months, this|previous week|month|quarter|year"


def normalize(phrase: object) -> str:
    """The phrase in canonical form (``last 30 days``); ValueError saying what is accepted."""
    match = _PHRASE.match(phrase) if isinstance(phrase, str) else None
    if match is None:
        raise ValueError(f"{phrase!r} is not a relative date")
    words = match.group(1).lower().split()
    if words[0] == "last":
        count = int(words[1])
        if not 1 <= count <= MAX_COUNT:
            raise ValueError(f"last {count}: the count must be 1 to {MAX_COUNT:,}")
        unit = words[2].rstrip("s")
        return f"last {count} {unit}{'s' if count != 1 else ''}"
    return " ".join(words)


def day_range(phrase: str, today: date) -> tuple[date, date]:
    """The local days ``[start, end)`` that ``phrase`` (normalized) means on ``today``."""
    words = phrase.split()
    if words == ["today"]:
        return today, today + timedelta(days=1)
    if words == ["yesterday"]:
        return today - timedelta(days=1), today
    if words[0] == "last":
        count, unit = int(words[1]), words[2].rstrip("s")
        if unit == "day":
            return today - timedelta(days=count), today
        if unit == "week":
            return today - timedelta(days=7 * count), today
        return months_before(today, count), today
    current, unit = words[0] == "this", words[1]
    start = _period_start(today, unit)
    if current:
        return start, _period_start(_far_in(start, unit), unit)
    return _period_start(start - timedelta(days=1), unit), start


def resolve(phrase: str, now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """``day_range`` on the local day of the aware moment ``now`` in ``zone``."""
    return day_range(phrase, now.astimezone(zone).date())


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone``. Where midnight is skipped (a DST change at 00:00), the
    pre-change offset puts it at the skipped hour's end, which is the day's first real instant."""
    return datetime.combine(day, time(0), tzinfo=zone)


def months_before(day: date, count: int) -> date:
    """The same day ``count`` months earlier, or that month's last day when it is shorter."""
    index = day.year * 12 + day.month - 1 - count
    year, month = divmod(index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + timedelta(days=day.day - 1),
               following - timedelta(days=1))  # fmt: skip


def _period_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _far_in(start: date, unit: str) -> date:
    """A day inside the period after the one starting at ``start``."""
    return start + timedelta(days={"week": 7, "month": 32, "quarter": 93, "year": 366}[unit])

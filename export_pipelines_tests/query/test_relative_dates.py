"""Relative dates: the absolute range each phrase means, in the request's time zone, at DST changes and period ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.query.relative_dates import day_range, normalize
from export_pipelines.request.validation import check_request

CATALOG = load_catalog()
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def resolved(phrase: str, now: datetime, timezone: str, column: str = "created_at"):
    """The checked condition of ``column within phrase`` at ``now`` (given as the request's relative_to)."""
    where = f"{column} within {phrase}"
    request = ExportRequest(user="admin", dataset="orders", timezone=timezone, where=where, relative_to=now.isoformat())
    (condition,) = check_request(request, CATALOG).conditions
    return condition


def local(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone, fold=fold)


# (phrase, today, [start, end) as local days)
CALENDAR = [
    ("today", date(2024, 2, 29), (date(2024, 2, 29), date(2024, 3, 1))),
    ("yesterday", date(2024, 3, 1), (date(2024, 2, 29), date(2024, 3, 1))),
    ("yesterday", date(2024, 1, 1), (date(2023, 12, 31), date(2024, 1, 1))),
    ("last 1 day", date(2024, 3, 1), (date(2024, 2, 29), date(2024, 3, 1))),
    ("last 30 days", date(2024, 3, 15), (date(2024, 2, 14), date(2024, 3, 15))),
    ("last 2 weeks", date(2024, 1, 3), (date(2023, 12, 20), date(2024, 1, 3))),
    # Month ends: the same day a month earlier, or that month's last day.
    ("last 1 month", date(2024, 3, 31), (date(2024, 2, 29), date(2024, 3, 31))),
    ("last 1 month", date(2023, 3, 31), (date(2023, 2, 28), date(2023, 3, 31))),
    ("last 3 months", date(2024, 5, 31), (date(2024, 2, 29), date(2024, 5, 31))),
    ("last 12 months", date(2024, 2, 29), (date(2023, 2, 28), date(2024, 2, 29))),
    ("last 1 month", date(2024, 1, 15), (date(2023, 12, 15), date(2024, 1, 15))),
    ("this week", date(2024, 3, 10), (date(2024, 3, 4), date(2024, 3, 11))),  # a Sunday: the week began Monday
    ("this week", date(2024, 3, 4), (date(2024, 3, 4), date(2024, 3, 11))),
    ("previous week", date(2024, 1, 3), (date(2023, 12, 25), date(2024, 1, 1))),
    ("this month", date(2024, 12, 31), (date(2024, 12, 1), date(2025, 1, 1))),
    ("previous month", date(2024, 3, 1), (date(2024, 2, 1), date(2024, 3, 1))),
    ("previous month", date(2024, 1, 31), (date(2023, 12, 1), date(2024, 1, 1))),
    ("this quarter", date(2024, 3, 31), (date(2024, 1, 1), date(2024, 4, 1))),
    ("this quarter", date(2024, 4, 1), (date(2024, 4, 1), date(2024, 7, 1))),
    ("this quarter", date(2024, 12, 31), (date(2024, 10, 1), date(2025, 1, 1))),
    ("previous quarter", date(2024, 1, 1), (date(2023, 10, 1), date(2024, 1, 1))),
    ("previous quarter", date(2024, 9, 30), (date(2024, 4, 1), date(2024, 7, 1))),
    ("this year", date(2024, 12, 31), (date(2024, 1, 1), date(2025, 1, 1))),
    ("previous year", date(2024, 1, 1), (date(2023, 1, 1), date(2024, 1, 1))),
]


@pytest.mark.parametrize(("phrase", "today", "expected"), CALENDAR, ids=[f"{c[0]}@{c[1]}" for c in CALENDAR])
def test_calendar_ranges(phrase, today, expected):
    assert day_range(normalize(phrase), today) == expected


@pytest.mark.parametrize(
    ("phrase", "now", "zone", "start", "end", "hours"),
    [
        # Berlin springs forward on 2024-03-31 (02:00 -> 03:00) and falls back on 2024-10-27 (03:00 -> 02:00).
        ("today", local(BERLIN, 2024, 3, 31, 12), BERLIN, "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00", 23),
        ("yesterday", local(BERLIN, 2024, 10, 28, 9), BERLIN,
         "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00", 25),
        ("last 7 days", local(BERLIN, 2024, 4, 3, 8), BERLIN,
         "2024-03-27T00:00:00+01:00", "2024-04-03T00:00:00+02:00", 7 * 24 - 1),
        # New York springs forward on 2024-03-10 and falls back on 2024-11-03, both at 02:00.
        ("this week", local(NEW_YORK, 2024, 3, 10, 23, 59), NEW_YORK,
         "2024-03-04T00:00:00-05:00", "2024-03-11T00:00:00-04:00", 7 * 24 - 1),
        ("previous month", local(NEW_YORK, 2024, 11, 15), NEW_YORK,
         "2024-10-01T00:00:00-04:00", "2024-11-01T00:00:00-04:00", 31 * 24),
        ("this month", local(NEW_YORK, 2024, 11, 3, 1, 30, fold=1), NEW_YORK,
         "2024-11-01T00:00:00-04:00", "2024-12-01T00:00:00-05:00", 30 * 24 + 1),
        ("previous quarter", local(NEW_YORK, 2024, 4, 1, 0, 5), NEW_YORK,
         "2024-01-01T00:00:00-05:00", "2024-04-01T00:00:00-04:00", 91 * 24 - 1),
    ],
)  # fmt: skip
def test_timestamp_ranges_run_from_local_midnight_to_local_midnight(phrase, now, zone, start, end, hours):
    condition = resolved(phrase, now, zone.key)

    low, high = condition.value
    assert (low.isoformat(), high.isoformat()) == (start, end)
    # Subtracting in UTC: Python subtracts wall-clock times when both share a zone.
    assert high.astimezone(UTC) - low.astimezone(UTC) == timedelta(hours=hours)
    assert f"within {normalize(phrase)} in {zone.key}: from {start} to before {end}" in condition.describe()


def test_the_local_day_decides_not_the_utc_day():
    moment = datetime(2024, 3, 30, 23, 30, tzinfo=UTC)  # already the 31st in Berlin, still the 30th in New York

    assert resolved("today", moment, "Europe/Berlin").value[0].date() == date(2024, 3, 31)
    assert resolved("today", moment, "America/New_York").value[0].date() == date(2024, 3, 30)


def test_a_date_column_gets_dates():
    condition = resolved("previous month", local(BERLIN, 2024, 3, 1, 0, 30), "Europe/Berlin", "shipped_on")

    assert condition.value == (date(2024, 2, 1), date(2024, 3, 1))


def test_without_relative_to_the_moment_of_the_check_is_used():
    request = ExportRequest(user="admin", dataset="orders", timezone="Europe/Berlin", where="created_at within today")
    now = datetime(2025, 7, 1, 22, 30, tzinfo=UTC)  # 2 July in Berlin

    (condition,) = check_request(request, CATALOG, now).conditions

    assert condition.value[0] == local(BERLIN, 2025, 7, 2)


def test_consecutive_days_share_no_instant_across_the_autumn_change():
    day_one = resolved("yesterday", local(BERLIN, 2024, 10, 27, 12), "Europe/Berlin").value
    day_two = resolved("today", local(BERLIN, 2024, 10, 27, 12), "Europe/Berlin").value

    assert day_one[1] == day_two[0] and day_one[1].utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("value", ["last week", "next month", "last 0 days", "last 10001 days", 30, "this decade"])
def test_a_phrase_that_is_not_one_is_refused_with_the_forms(value):
    request = ExportRequest(
        user="admin", dataset="orders", filters=[{"column": "created_at", "op": "within", "value": value}]
    )

    with pytest.raises(ExportRequestError) as refused:
        check_request(request, CATALOG)

    assert refused.value.field == "filters[0].value"
    assert "last N days|weeks|months" in str(refused.value) or "1 to 10,000" in str(refused.value)


def test_relative_to_needs_an_offset():
    request = ExportRequest(user="admin", dataset="orders", relative_to="2024-05-01T06:00:00")

    with pytest.raises(ExportRequestError, match="UTC offset") as refused:
        check_request(request, CATALOG)
    assert refused.value.field == "relative_to"

"""Subscriptions become schedules: one run per tick, the same request and tags as every path, windows across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import DagsterRunStatus, RunRequest, SkipReason, build_schedule_context
from dagster._utils.schedules import cron_string_iterator

from export_pipelines.automation.admission import TAG_SUBMITTED_VIA
from export_pipelines.automation.subscription_schedules import (
    TAG_SUBSCRIPTION,
    TAG_WINDOW_END,
    run_request_for_tick,
    subscription_schedule,
    subscription_schedules,
)
from export_pipelines.automation.subscriptions import Subscription, load_subscriptions
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import SettingsError
from export_pipelines.request.model import ExportRequest
from export_pipelines.request.validation import check_request
from export_pipelines_tests.automation.conftest import place_run

PROJECT = Path(__file__).resolve().parents[2]


def _daily(zone: str, cron: str, window="day") -> Subscription:
    return Subscription(name="daily_orders", owner="analyst", request={"dataset": "orders"}, cron=cron,
                        timezone=zone, window=window)  # fmt: skip


def _evaluate(subscription: Subscription, tick: datetime, instance=None):
    with build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
        return list(subscription_schedule(subscription).evaluate_tick(context).run_requests or [])


def _window(run_request: RunRequest) -> tuple[datetime, datetime]:
    filters = run_request.run_config["ops"]["validate_request"]["config"]["filters"]
    (start,) = [f["value"] for f in filters if f["op"] == "ge"]
    (end,) = [f["value"] for f in filters if f["op"] == "lt"]
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def test_the_example_file_loads_and_a_tick_runs_the_saved_request_as_the_owner():
    schedules = {s.name: s for s in subscription_schedules(str(PROJECT / "subscriptions.example.yaml"))}
    subscription = load_subscriptions(PROJECT / "subscriptions.example.yaml")[0]
    tick = datetime(2025, 6, 3, 6, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    run_request = run_request_for_tick(subscription, tick, None)

    assert schedules["daily_orders_analyst_export_schedule"].execution_timezone == "Europe/Berlin"
    request = ExportRequest(**run_request.run_config["ops"]["validate_request"]["config"])
    assert request.user == "analyst" and request.recipients == ["analyst@example.com"]
    assert request.timezone == "Europe/Berlin"
    assert run_request.run_config == request.run_config()
    check_request(request, load_catalog())  # what the gate checks: the window's filters are valid
    # The example's daily subscription skips empty days (skip_if_empty): its ticks say so.
    assert run_request.tags == {**request.run_tags(), TAG_SUBSCRIPTION: "daily_orders_analyst",
                                "export/window_start": "2025-06-02T00:00:00+02:00",
                                TAG_WINDOW_END: "2025-06-03T00:00:00+02:00",
                                "export/skip_if_empty": "true"}  # fmt: skip
    assert run_request.run_key == "daily_orders_analyst@2025-06-03T06:00:00+02:00"


def test_a_paused_subscription_skips():
    subscription = _daily("UTC", "0 6 * * *").model_copy(update={"paused": True})
    with build_schedule_context(scheduled_execution_time=datetime(2025, 1, 2, 6, tzinfo=UTC)) as context:
        assert isinstance(subscription_schedule(subscription).evaluate_tick(context).skip_message, str)
    assert isinstance(SkipReason("x"), SkipReason)


@pytest.mark.parametrize(
    ("zone", "cron", "first", "last"),
    [
        ("Europe/Berlin", "30 2 * * *", date(2025, 3, 28), date(2025, 4, 1)),  # 30 March 02:30 does not exist
        ("Europe/Berlin", "30 1 * * *", date(2025, 3, 28), date(2025, 4, 1)),
        ("Europe/Berlin", "30 2 * * *", date(2025, 10, 24), date(2025, 10, 28)),  # 26 October 02:30 happens twice
        ("Europe/Berlin", "30 1 * * *", date(2025, 10, 24), date(2025, 10, 28)),
        ("America/New_York", "30 2 * * *", date(2025, 3, 7), date(2025, 3, 11)),  # 9 March 02:30 does not exist
        ("America/New_York", "30 1 * * *", date(2025, 3, 7), date(2025, 3, 11)),
        ("America/New_York", "30 1 * * *", date(2025, 10, 31), date(2025, 11, 4)),  # 2 November 01:30 happens twice
        ("America/New_York", "30 2 * * *", date(2025, 10, 31), date(2025, 11, 4)),
    ],
)
def test_a_daily_subscription_across_dst_makes_one_run_per_local_day_holding_yesterday(zone, cron, first, last):
    tz = ZoneInfo(zone)
    subscription = _daily(zone, cron)
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).timestamp()
    ticks = []
    for tick in cron_string_iterator(start, cron, zone):  # what the daemon evaluates
        if tick.astimezone(tz).date() > last:
            break
        ticks.append(tick)

    requests = {tick: _evaluate(subscription, tick) for tick in ticks}

    days = [tick.astimezone(tz).date() for tick in ticks]
    assert days == [first + timedelta(days=n) for n in range((last - first).days + 1)]  # one tick a day, none twice
    assert all(len(made) == 1 for made in requests.values())
    assert len({made[0].run_key for made in requests.values()}) == len(ticks)
    for tick, (made,) in requests.items():
        day = tick.astimezone(tz).date()
        window = _window(made)
        assert window == (datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=tz),
                          datetime.combine(day, datetime.min.time(), tzinfo=tz))  # fmt: skip
        assert window[0].utcoffset() == tz.utcoffset(window[0].replace(tzinfo=None))  # offsets written out
    lengths = {(w[1] - w[0]) for w in (_window(m) for (m,) in requests.values())}
    assert lengths <= {timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)}
    windows = sorted(_window(m) for (m,) in requests.values())
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))  # back to back: no row twice


def test_the_same_tick_evaluated_twice_asks_for_the_same_run_key():
    subscription = _daily("America/New_York", "30 1 * * *")
    tick = datetime(2025, 11, 2, 1, 30, tzinfo=ZoneInfo("America/New_York"))

    assert _evaluate(subscription, tick)[0].run_key == _evaluate(subscription, tick)[0].run_key


def test_week_and_month_windows():
    tick = datetime(2025, 3, 31, 7, tzinfo=ZoneInfo("America/New_York"))
    week = _window(run_request_for_tick(_daily("America/New_York", "0 7 * * 1", "week"), tick, None))
    month = _window(run_request_for_tick(_daily("America/New_York", "0 7 31 * *", "month"), tick, None))

    assert [w.isoformat() for w in week] == ["2025-03-24T00:00:00-04:00", "2025-03-31T00:00:00-04:00"]
    assert [w.isoformat() for w in month] == ["2025-02-28T00:00:00-05:00", "2025-03-31T00:00:00-04:00"]


def test_since_last_success_starts_where_the_last_successful_scheduled_run_ended(instance):
    subscription = _daily("Europe/Berlin", "0 */6 * * *", "since_last_success")
    tick = datetime(2025, 5, 5, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert _window(_evaluate(subscription, tick, instance)[0])[0] == tick - timedelta(hours=6)  # none yet: last tick

    scheduled = {TAG_SUBSCRIPTION: "daily_orders", TAG_SUBMITTED_VIA: "schedule:daily_orders_export_schedule"}
    place_run(instance, DagsterRunStatus.SUCCESS, {**scheduled, TAG_WINDOW_END: "2025-05-04T18:00:00+02:00"})
    place_run(instance, DagsterRunStatus.FAILURE, {**scheduled, TAG_WINDOW_END: "2025-05-05T06:00:00+02:00"})
    typed = {**scheduled, TAG_SUBMITTED_VIA: "webserver", TAG_WINDOW_END: "2025-05-05T11:00:00+02:00"}
    place_run(instance, DagsterRunStatus.SUCCESS, typed)

    start, end = _window(_evaluate(subscription, tick, instance)[0])

    assert (start.isoformat(), end) == ("2025-05-04T18:00:00+02:00", tick)


def test_a_broken_subscriptions_file_names_the_subscription_and_the_problem(tmp_path):
    path = tmp_path / "subscriptions.yaml"
    entry = {"name": "nightly", "owner": "analyst", "request": {"dataset": "orders"}, "cron": "0 25 * * *"}
    path.write_text(yaml.safe_dump({"subscriptions": [entry]}))

    with pytest.raises(SettingsError) as broken:
        load_subscriptions(path)

    assert "subscription nightly: cron" in str(broken.value) and "not a cron string" in str(broken.value)

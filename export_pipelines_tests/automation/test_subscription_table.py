"""Subscriptions kept in export_subscriptions, run by export_subscription_sensor: one run per tick, as the schedules.

The sensor is evaluated for real (SQLite and PostgreSQL tables, a real instance) at frozen times; the
run-key dedupe is shown by Dagster's own sensor daemon code making the runs, and once by a real
``dagster dev`` daemon running a subscription every minute.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, build_schedule_context, build_sensor_context
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._utils.schedules import cron_string_iterator

from export_pipelines.automation.admission import TAG_SUBMITTED_VIA
from export_pipelines.automation.subscription_schedules import (
    TAG_SUBSCRIPTION,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
    subscription_schedule,
)
from export_pipelines.automation.subscription_sensor import SUBSCRIPTION_SENSOR, export_subscription_sensor
from export_pipelines.automation.subscription_table import SubscriptionTable, export_subscriptions
from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.cli import main
from export_pipelines.demo.seed import seed_demo
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.automation.conftest import place_run
from export_pipelines_tests.automation.dagster_dev import DagsterDev

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
SENSOR_TAG = "dagster/sensor_name"


def _source(kind: str, request, tmp_path, monkeypatch) -> SubscriptionTable:
    url = f"sqlite:///{tmp_path / 'source.sqlite'}" if kind == "sqlite" else request.getfixturevalue(
        "postgres_database")("subscriptions")  # fmt: skip
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", url)
    assert main(["subscriptions", "init"]) == 0
    return SubscriptionTable(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def table(request, tmp_path, monkeypatch) -> SubscriptionTable:
    return _source(request.param, request, tmp_path, monkeypatch)


@pytest.fixture
def sqlite_table(request, tmp_path, monkeypatch) -> SubscriptionTable:
    return _source("sqlite", request, tmp_path, monkeypatch)


def _add(table: SubscriptionTable, at: datetime, **fields) -> Subscription:
    subscription = Subscription(**{"name": "nightly", "owner": "analyst", "request": {"dataset": "orders"},
                                   "cron": "0 6 * * *", "timezone": "Europe/Berlin", "window": "day",
                                   **fields})  # fmt: skip
    table.add(subscription, now=at)
    return subscription


def _tick(instance, at: datetime, cursor: str | None = None):
    with freeze_time(at):
        return export_subscription_sensor(build_sensor_context(instance=instance, cursor=cursor))


def _keys(result) -> list[str]:
    return [run_request.run_key for run_request in result.run_requests]


def _scheduled(subscription: Subscription, tick: datetime, instance=None) -> tuple:
    """What the YAML schedule of the same subscription asks for at ``tick``, as ``_asked``."""
    with build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
        (run_request,) = subscription_schedule(subscription).evaluate_tick(context).run_requests
    return _asked(run_request)


def _asked(run_request) -> tuple:
    """Run key, run config and tags, less those Dagster adds to name the schedule or sensor."""
    tags = {name: value for name, value in run_request.tags.items() if not name.startswith("dagster/")}
    return run_request.run_key, run_request.run_config, tags


def _window(run_request) -> tuple[datetime, datetime]:
    return (datetime.fromisoformat(run_request.tags[TAG_WINDOW_START]),
            datetime.fromisoformat(run_request.tags[TAG_WINDOW_END]))  # fmt: skip


def test_a_due_tick_makes_one_run_request_the_same_as_the_schedules(table, instance):
    subscription = _add(table, datetime(2025, 6, 2, 12, tzinfo=BERLIN), recipients=["analyst@example.com"])
    early = _tick(instance, datetime(2025, 6, 3, 5, 59, 30, tzinfo=BERLIN))

    due = _tick(instance, datetime(2025, 6, 3, 6, 0, 20, tzinfo=BERLIN), early.cursor)

    assert early.run_requests == []
    (made,) = due.run_requests
    scheduled = _scheduled(subscription, datetime(2025, 6, 3, 6, tzinfo=BERLIN))
    assert _asked(made) == scheduled
    assert made.run_key == "nightly@2025-06-03T06:00:00+02:00"
    request = ExportRequest(**made.run_config["ops"]["validate_request"]["config"])
    assert (request.user, request.recipients, request.timezone) == ("analyst", ["analyst@example.com"], "Europe/Berlin")
    assert made.tags == {**request.run_tags(), TAG_SUBSCRIPTION: "nightly",
                         TAG_WINDOW_START: "2025-06-02T00:00:00+02:00", TAG_WINDOW_END: "2025-06-03T00:00:00+02:00"}


def test_a_tick_evaluated_again_or_after_a_cursor_reset_asks_for_the_same_run_key(table, instance):
    _add(table, datetime(2025, 6, 2, 12, tzinfo=BERLIN))
    at = datetime(2025, 6, 3, 6, 0, 20, tzinfo=BERLIN)

    first = _tick(instance, at)
    again = _tick(instance, at + timedelta(seconds=30), first.cursor)
    reset = _tick(instance, at + timedelta(minutes=1))
    unreadable = _tick(instance, at + timedelta(minutes=2), "not json")

    assert _keys(first) == _keys(reset) == _keys(unreadable) == ["nightly@2025-06-03T06:00:00+02:00"]
    assert again.run_requests == []


def test_since_last_success_starts_where_the_sensors_last_successful_run_of_it_ended(table, instance):
    _add(table, datetime(2025, 6, 2, 12, tzinfo=BERLIN), cron="0 */6 * * *", window="since_last_success")
    ours = {TAG_SUBSCRIPTION: "nightly", TAG_SUBMITTED_VIA: f"sensor:{SUBSCRIPTION_SENSOR}"}
    place_run(instance, DagsterRunStatus.SUCCESS, {**ours, TAG_WINDOW_END: "2025-06-02T18:00:00+02:00"})
    place_run(instance, DagsterRunStatus.FAILURE, {**ours, TAG_WINDOW_END: "2025-06-03T00:00:00+02:00"})
    yaml_namesake = {**ours, TAG_SUBMITTED_VIA: "schedule:nightly_export_schedule"}
    place_run(instance, DagsterRunStatus.SUCCESS, {**yaml_namesake, TAG_WINDOW_END: "2025-06-03T05:00:00+02:00"})

    (made,) = _tick(instance, datetime(2025, 6, 3, 6, 0, 20, tzinfo=BERLIN)).run_requests

    assert [w.isoformat() for w in _window(made)] == ["2025-06-02T18:00:00+02:00", "2025-06-03T06:00:00+02:00"]


@pytest.fixture
def gated_instance(dagster_home, monkeypatch):
    """An instance whose run coordinator is the project's gate: the daemon's runs are admitted and queued."""
    gate = {"module": "export_pipelines.automation.gate", "class": "ExportSubmissionGate"}
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False},
                                                                "run_coordinator": gate}))  # fmt: skip
    for name in ("EXPORT_TRUST_UNSIGNED_SUBMISSIONS", "EXPORT_MAX_QUEUED_PER_USER", "EXPORT_DEDUPE_WINDOW_SECONDS",
                 "EXPORT_SUBSCRIPTIONS_PATH"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with DagsterInstance.get() as instance:
        yield instance


def _daemon_tick(instance: DagsterInstance, at: datetime) -> None:
    """One iteration of Dagster's sensor daemon at ``at``, in a freshly started daemon (a restart every time)."""
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="export_pipelines.definitions"),
                                         location_name="export_pipelines")  # fmt: skip
    with freeze_time(at), create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as ws:
        list(execute_sensor_iteration(ws, logging.getLogger("sensor-daemon"), None, None))


def _reset_cursor(instance: DagsterInstance) -> None:
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    (state,) = [s for s in states if s.instigator_name == SUBSCRIPTION_SENSOR]
    assert json.loads(state.instigator_data.cursor)  # the sensor had one
    instance.update_instigator_state(state.with_data(state.instigator_data._replace(cursor=None)))


def test_the_sensor_daemon_makes_one_run_per_tick_through_repeats_a_cursor_reset_and_restarts(
    sqlite_table, gated_instance
):
    instance = gated_instance
    _add(sqlite_table, datetime(2025, 6, 2, 12, tzinfo=UTC), cron="0 6 * * *", timezone="UTC")
    tick = datetime(2025, 6, 3, 6, tzinfo=UTC)

    _daemon_tick(instance, tick + timedelta(seconds=10))
    _daemon_tick(instance, tick + timedelta(seconds=50))
    _reset_cursor(instance)
    _daemon_tick(instance, tick + timedelta(seconds=90))
    first_day = instance.get_runs(RunsFilter(tags={SENSOR_TAG: SUBSCRIPTION_SENSOR}))
    _daemon_tick(instance, tick + timedelta(days=1, seconds=10))

    runs = instance.get_runs(RunsFilter(tags={SENSOR_TAG: SUBSCRIPTION_SENSOR}), ascending=True)
    assert len(first_day) == 1
    assert [run.tags["dagster/run_key"] for run in runs] == ["nightly@2025-06-03T06:00:00+00:00",
                                                             "nightly@2025-06-04T06:00:00+00:00"]  # fmt: skip
    assert {run.status for run in runs} == {DagsterRunStatus.QUEUED}  # admitted by the gate
    assert runs[0].tags[TAG_SUBMITTED_VIA] == f"sensor:{SUBSCRIPTION_SENSOR}"
    assert runs[0].tags[TAG_SUBSCRIPTION] == "nightly" and runs[0].tags["export/user"] == "analyst"


def test_a_paused_subscription_makes_no_run_and_a_resumed_one_runs_from_its_next_tick(table, instance):
    _add(table, datetime(2025, 6, 2, 12, tzinfo=BERLIN))
    table.pause("nightly", now=datetime(2025, 6, 3, 5, tzinfo=BERLIN))

    paused = _tick(instance, datetime(2025, 6, 3, 6, 0, 20, tzinfo=BERLIN))
    table.resume("nightly", now=datetime(2025, 6, 3, 7, tzinfo=BERLIN))
    resumed = _tick(instance, datetime(2025, 6, 3, 7, 0, 30, tzinfo=BERLIN), paused.cursor)
    reset = _tick(instance, datetime(2025, 6, 3, 7, 1, tzinfo=BERLIN))
    next_day = _tick(instance, datetime(2025, 6, 4, 6, 0, 20, tzinfo=BERLIN), resumed.cursor)

    assert paused.run_requests == resumed.run_requests == reset.run_requests == []  # 06:00 is not caught up
    assert _keys(next_day) == ["nightly@2025-06-04T06:00:00+02:00"]


def test_editing_the_cron_fires_no_run_at_once_and_the_next_run_is_at_the_new_cron(table, instance):
    _add(table, datetime(2025, 6, 2, 12, tzinfo=BERLIN))
    ran = _tick(instance, datetime(2025, 6, 3, 6, 0, 20, tzinfo=BERLIN))
    table.update("nightly", {"cron": "30 6 * * *"}, now=datetime(2025, 6, 3, 7, tzinfo=BERLIN))  # 06:30 is past

    after_edit = _tick(instance, datetime(2025, 6, 3, 7, 0, 30, tzinfo=BERLIN), ran.cursor)
    after_reset = _tick(instance, datetime(2025, 6, 3, 7, 1, tzinfo=BERLIN))
    old_time = _tick(instance, datetime(2025, 6, 4, 6, 0, 20, tzinfo=BERLIN), after_edit.cursor)
    new_time = _tick(instance, datetime(2025, 6, 4, 6, 30, 20, tzinfo=BERLIN), old_time.cursor)
    with table.engine.begin() as connection:  # an application's own SQL edit, ticks_after left as it was
        connection.execute(export_subscriptions.update().values(cron="0 7 * * *"))
    sql_edit = _tick(instance, datetime(2025, 6, 4, 8, tzinfo=BERLIN), new_time.cursor)
    sql_next = _tick(instance, datetime(2025, 6, 5, 7, 0, 20, tzinfo=BERLIN), sql_edit.cursor)

    assert _keys(ran) == ["nightly@2025-06-03T06:00:00+02:00"]
    assert after_edit.run_requests == after_reset.run_requests == old_time.run_requests == []
    assert _keys(new_time) == ["nightly@2025-06-04T06:30:00+02:00"]
    assert sql_edit.run_requests == []  # 07:00 that day is past
    assert _keys(sql_next) == ["nightly@2025-06-05T07:00:00+02:00"]


@pytest.mark.parametrize(
    ("zone", "cron", "day", "dst_tick"),
    [
        ("Europe/Berlin", "30 2 * * *", date(2025, 3, 30), "2025-03-30T03:00:00+02:00"),  # 02:30 does not exist
        ("Europe/Berlin", "30 1 * * *", date(2025, 3, 30), "2025-03-30T01:30:00+01:00"),
        ("Europe/Berlin", "30 1 * * *", date(2025, 10, 26), "2025-10-26T01:30:00+02:00"),
        ("Europe/Berlin", "30 2 * * *", date(2025, 10, 26), "2025-10-26T02:30:00+01:00"),  # 02:30 twice
        ("America/New_York", "30 2 * * *", date(2025, 3, 9), "2025-03-09T03:00:00-04:00"),  # does not exist
        ("America/New_York", "30 1 * * *", date(2025, 3, 9), "2025-03-09T01:30:00-05:00"),
        ("America/New_York", "30 1 * * *", date(2025, 11, 2), "2025-11-02T01:30:00-05:00"),  # 01:30 twice
        ("America/New_York", "30 2 * * *", date(2025, 11, 2), "2025-11-02T02:30:00-05:00"),
    ],
)
def test_across_dst_the_sensor_runs_each_local_day_once_exactly_as_the_schedule_would(
    sqlite_table, instance, zone, cron, day, dst_tick
):
    tz = ZoneInfo(zone)
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    subscription = _add(sqlite_table, start, cron=cron, timezone=zone)
    end = start + timedelta(days=3)
    made, cursor, at = [], None, start + timedelta(minutes=7)
    while at < end:  # every 20 minutes, as a slow daemon would
        result = _tick(instance, at, cursor)
        made += result.run_requests
        cursor, last, at = result.cursor, at, at + timedelta(minutes=20)
    ticks = []
    for tick in cron_string_iterator(start.timestamp(), cron, zone):  # what the schedule daemon evaluates
        if tick.timestamp() > last.timestamp():
            break
        ticks.append(tick)

    scheduled = [_scheduled(subscription, tick) for tick in ticks]
    assert [_asked(r) for r in made] == scheduled
    assert [r.run_key for r in made][1] == f"nightly@{dst_tick}"  # one run on the day of the change
    midnight = [datetime.combine(day + timedelta(days=n), datetime.min.time(), tzinfo=tz) for n in (-1, 0, 1)]
    assert _window(made[1]) == (midnight[0], midnight[1])  # yesterday, 24 h
    assert _window(made[2]) == (midnight[1], midnight[2])  # the day of the change, 23 or 25 h
    hours = (midnight[2].timestamp() - midnight[1].timestamp()) / 3600
    assert hours == (23 if day.month == 3 else 25)


def test_a_bad_row_is_skipped_with_its_reason_and_the_others_still_run(table, instance, capfd):
    good = _add(table, datetime(2025, 6, 2, 12, tzinfo=BERLIN))
    base = {"owner": "analyst", "request": {"dataset": "orders"}, "cron": "0 6 * * *", "timezone": "Europe/Berlin",
            "ticks_after": datetime(2025, 6, 2, 10, tzinfo=UTC)}  # fmt: skip
    rows = [{"name": "bad_cron", "cron": "0 25 * * *"}, {"name": "bad_zone", "timezone": "Mars/Olympus"},
            {"name": "bad_format", "request": {"dataset": "orders", "format": "docx"}},
            {"name": "not_json", "request": "{not json"}, {"name": "someone_else", "request": {"dataset": "orders",
            "user": "admin"}}, {"name": "Bad-Name"}, {"name": "unknown_dataset", "request": {"dataset": "payroll"}}]
    with table.engine.begin() as connection:  # fmt: skip
        connection.execute(export_subscriptions.insert(), [{**base, **row} for row in rows])

    result = _tick(instance, datetime(2025, 6, 3, 6, 0, 20, tzinfo=BERLIN))

    assert _keys(result) == [f"{good.name}@2025-06-03T06:00:00+02:00"]
    reasons = {row.name: row.reason for row in table.load()[1]}
    assert "subscription bad_cron: cron: '0 25 * * *' is not a cron string" in reasons["bad_cron"]
    assert "subscription bad_zone: timezone: 'Mars/Olympus' is not a known time zone" in reasons["bad_zone"]
    assert reasons["bad_format"].startswith("subscription bad_format: request.format:")
    assert reasons["not_json"].startswith("subscription not_json: request: not valid JSON")
    assert "subscription someone_else: request:" in reasons["someone_else"] and "owner" in reasons["someone_else"]
    assert reasons["Bad-Name"].startswith("subscription Bad-Name: name:")
    logged = capfd.readouterr().err  # the sensor's log
    assert all(reason in logged for reason in reasons.values())
    assert "subscription unknown_dataset: the tick of 2025-06-03T06:00:00+02:00 is not run" in logged
    assert "unknown dataset 'payroll'" in logged


def test_the_commands_add_list_pause_resume_and_remove(table, tmp_path, capsys):
    (tmp_path / "request.yaml").write_text("dataset: orders\nformat: csv\n")
    add = ["subscriptions", "add", "nightly", "--owner", "analyst", "--request", str(tmp_path / "request.yaml"),
           "--cron", "0 6 * * *", "--timezone", "Europe/Berlin", "--window", "day", "--recipient", "a@example.com"]

    assert main(add) == 0
    assert main(add) == 2
    assert main([*add[:-6], "--cron", "0 25 * * *"]) == 2
    assert main(["subscriptions", "pause", "nightly"]) == 0
    assert main(["subscriptions", "list", "--json"]) == 0
    assert main(["subscriptions", "resume", "nightly"]) == 0
    assert main([*add, "--replace", "--cron", "30 7 * * 1"]) == 0
    assert main(["subscriptions", "list"]) == 0
    assert main(["subscriptions", "remove", "nightly"]) == 0
    assert main(["subscriptions", "pause", "nightly"]) == 2

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert re.fullmatch(r"Added nightly; next run: \d{4}-\d\d-\d\dT06:00:00\+0[12]:00\.", lines[0])  # Berlin
    assert "subscription nightly: name: a subscription of this name exists already" in err
    assert "subscription nightly: cron: '0 25 * * *' is not a cron string" in err
    assert lines[1] == "nightly paused."
    listed = json.loads("\n".join(lines[2:lines.index("nightly running.")]))
    assert [(s["name"], s["paused"], s["recipients"], s["next_run"]) for s in listed] == [
        ("nightly", True, ["a@example.com"], None)]  # fmt: skip
    changed = lines[lines.index("nightly running.") + 1]
    assert re.fullmatch(r"Changed nightly; next run: \d{4}-\d\d-\d\dT07:30:00\+0[12]:00\.", changed)
    assert lines[-2].split()[:4] == ["nightly", "active", "30", "7"]
    assert lines[-1] == "nightly removed."
    assert "no subscription has this name" in err
    assert table.load() == ([], [])


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_in_a_real_daemon_a_subscription_every_minute_makes_one_successful_export_per_tick(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    seed_demo(url, rows=2_000)
    table = SubscriptionTable(url)
    table.create()
    dev = DagsterDev(tmp_path, {"EXPORT_SOURCE_DB_URL": url, "EXPORT_DATA_DIR": str(tmp_path / "var")})
    for name, value in dev.env.items():
        monkeypatch.setenv(name, value)  # this process reads the same instance back
    table.add(Subscription(name="every_minute", owner="analyst", request={"dataset": "orders", "format": "csv"},
                           cron="* * * * *", window="since_last_success"))  # fmt: skip
    dev.start()
    try:
        with DagsterInstance.get() as instance:
            runs, paused_at = _runs_through_a_pause(dev, instance, table, seconds=240)
    finally:
        dev.stop()

    keys = [run.tags["dagster/run_key"] for run in runs]
    ticks = [datetime.fromisoformat(key.removeprefix("every_minute@")) for key in keys]
    assert len(set(keys)) == len(keys)  # one run per tick, however often the sensor evaluated it
    assert all(later - earlier == timedelta(minutes=1) for earlier, later in zip(ticks, ticks[1:]))
    assert all(tick <= paused_at for tick in ticks)  # evaluated after the pause, it made no run
    assert runs[0].status == DagsterRunStatus.SUCCESS  # a later tick's run may have begun
    for run, tick in zip(runs, ticks):
        assert {name: run.tags[name] for name in ("export/user", "export/dataset", "export/format", TAG_SUBSCRIPTION,
                                                  TAG_SUBMITTED_VIA, TAG_WINDOW_END)} == {  # fmt: skip
            "export/user": "analyst", "export/dataset": "orders", "export/format": "csv",
            TAG_SUBSCRIPTION: "every_minute", TAG_SUBMITTED_VIA: f"sensor:{SUBSCRIPTION_SENSOR}",
            TAG_WINDOW_END: tick.isoformat()}  # fmt: skip


def _runs_through_a_pause(dev: DagsterDev, instance: DagsterInstance, table: SubscriptionTable, seconds: float):
    """Once the sensor's first run has ended: pause the subscription, wait for an evaluation of the sensor
    begun after the pause, and give (the sensor's runs oldest first, when it was paused)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(tags={SENSOR_TAG: SUBSCRIPTION_SENSOR}), ascending=True)
        if runs and runs[0].is_finished:
            table.pause("every_minute")
            paused_at = datetime.now(UTC)
            dev.wait_for_sensor_ticks(SUBSCRIPTION_SENSOR, after=paused_at.timestamp())
            return instance.get_runs(RunsFilter(tags={SENSOR_TAG: SUBSCRIPTION_SENSOR}), ascending=True), paused_at
        time.sleep(2)
    raise AssertionError(f"no finished subscription run within {seconds} s; dagster dev said:\n{dev.log_tail()}")

"""export_subscription_sensor: the runs of the subscriptions in the ``export_subscriptions`` table.

Every 30 seconds it reads the table and, for each subscription that is not paused, asks for a run of
the newest cron tick that came due since it last looked. One tick at most: after downtime only the
newest missed tick runs, as with Dagster's own (unpartitioned) schedules. Ticks come from Dagster's
cron iteration in the subscription's time zone, so DST works as for the YAML schedules: a tick whose
local time does not exist (02:30 on a spring-forward day) runs once, at the next time that does
(03:00); one whose local time happens twice (01:30 on New York's fall-back day) runs once, at the
second. The run is the one the subscription's schedule would ask for (``run_request_for_tick``): the
same run config, tags, window and run key (``<name>@<tick time>``).

A tick makes one export whatever happens to the sensor: Dagster makes no second run for a run key
this sensor used, so a tick evaluated twice, a reset or deleted cursor, or a daemon restart launch
nothing again.

The cursor (JSON) holds, per subscription, the time up to which ticks are done and the cron and time
zone it was read with. Ticks run only after that time and after the row's ``ticks_after``. A cron or
time zone unlike the cursor's is an edit: its ticks count from ``ticks_after`` when the edit set it
(``SubscriptionTable.update``), else from this evaluation (an application's plain SQL), so an edit
never runs a tick from the past at once.

Trust: the table is the application's own (see ``subscription_table``); the runs pass the gate as the
deployment's and run as each subscription's owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor
from dagster._time import get_current_datetime
from dagster._utils.schedules import cron_string_iterator
from pydantic import ValidationError

from export_pipelines.automation.subscription_schedules import run_request_for_tick
from export_pipelines.automation.subscription_table import StoredSubscription, SubscriptionTable
from export_pipelines.automation.subscriptions import Subscription
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportError
from export_pipelines.request.model import request_from_run_config
from export_pipelines.request.validation import check_request
from export_pipelines.run.jobs import export_job
from export_pipelines.settings import default_source_url

SUBSCRIPTION_SENSOR = "export_subscription_sensor"
SUBMITTED_VIA = f"sensor:{SUBSCRIPTION_SENSOR}"  # what the gate tags this sensor's runs with


@sensor(
    name=SUBSCRIPTION_SENSOR,
    job=export_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Run the subscriptions of the export_subscriptions table (source database) on their crons. "
    "Create the table with `export-pipelines subscriptions init`.",
)
def export_subscription_sensor(context: SensorEvaluationContext):
    """Ask for the run of each subscription's newest due tick (see the module docstring)."""
    table = SubscriptionTable(default_source_url())
    if not table.exists():
        return SkipReason("no export_subscriptions table in the source database: run "
                          "`export-pipelines subscriptions init`")  # fmt: skip
    now = get_current_datetime()
    seen = read_cursor(context.cursor)
    stored, bad = table.load()
    # A bad row keeps its mark, so a cron fixed with plain SQL is still seen as an edit.
    cursor = {row.name: seen[row.name] for row in bad if row.name in seen}
    for row in bad:
        context.log.warning(f"{row.reason}. The row is skipped until it is fixed; the other subscriptions run.")
    catalog = load_catalog()
    run_requests = []
    for entry in stored:
        subscription = entry.subscription
        cursor[subscription.name], tick = due_tick(entry, seen.get(subscription.name), now)
        if tick is None or subscription.paused:
            continue
        try:
            run_request = run_request_for_tick(subscription, tick, context.instance, SUBMITTED_VIA)
            # What the gate checks: a run it refused would fail the daemon's tick, and every
            # subscription's run with it.
            check_request(request_from_run_config(run_request.run_config), catalog)
        except (ValueError, ValidationError, ExportError) as error:
            context.log.warning(
                f"subscription {subscription.name}: the tick of {tick.isoformat()} is not run: "
                f"{error}. Fix the subscription (export-pipelines subscriptions add --replace)."
            )
            continue
        run_requests.append(run_request)
    return SensorResult(run_requests=run_requests, cursor=json.dumps(cursor, sort_keys=True))


def due_tick(entry: StoredSubscription, seen: Mapping[str, Any] | None, now: datetime) -> tuple[dict, datetime | None]:
    """The cursor's new mark for a subscription, and its newest tick due by ``now`` not run yet (or None)."""
    subscription = entry.subscription
    after = entry.ticks_after
    if seen is not None:
        done = _moment(seen.get("after")) or after
        if (seen.get("cron"), seen.get("timezone")) == (subscription.cron, subscription.timezone):
            after = max(after, done, key=datetime.timestamp)
        elif after.timestamp() <= done.timestamp():  # edited, and ticks_after not moved: the edit is now
            after = now
    tick = latest_tick(subscription, now)
    due = tick if tick is not None and tick.timestamp() > after.timestamp() else None
    mark = {"after": (due or after).isoformat(), "cron": subscription.cron, "timezone": subscription.timezone}
    return mark, due


def latest_tick(subscription: Subscription, now: datetime) -> datetime | None:
    """The subscription's newest cron time at or before ``now``, in its zone, as Dagster's schedules time it."""
    earlier = cron_string_iterator(now.timestamp(), subscription.cron, subscription.timezone, ascending=False)
    return next(earlier, None)


def next_tick(subscription: Subscription, after: datetime) -> datetime | None:
    """The subscription's first cron time after ``after`` (what ``subscriptions list`` shows as next)."""
    later = cron_string_iterator(after.timestamp(), subscription.cron, subscription.timezone)
    return next((moment for moment in later if moment.timestamp() > after.timestamp()), None)


def read_cursor(cursor: str | None) -> dict[str, Mapping[str, Any]]:
    """The cursor's marks by subscription; none when it is empty or unreadable (a reset: run keys still hold)."""
    try:
        marks = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        return {}
    return {name: mark for name, mark in marks.items() if isinstance(mark, dict)} if isinstance(marks, dict) else {}


def _moment(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else None

"""One Dagster schedule per subscription: ``<name>_export_schedule`` runs ``export_job`` on the subscription's cron.

Its runs carry the same run config and export tags as every other path (``ExportRequest.run_config``
and ``run_tags``), and pass the submission gate as the deployment's own (the daemon sends them),
plus ``export/subscription`` and the window they hold. The run key is the subscription and the
tick's scheduled time, so a tick evaluated twice (a daemon restart, a retried tick) makes one run.
``run_request_for_tick`` is also how ``subscription_sensor`` asks for the runs of the table's subscriptions.
Dagster evaluates a tick whose local time does not exist (spring forward) once, at the next time
that does (03:00 for 02:30), and a tick whose local time happens twice (fall back) once, at the second
(standard time); the window is the same calendar day either way.
"""

from __future__ import annotations

from datetime import datetime

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from export_pipelines.automation.admission import TAG_SUBMITTED_VIA
from export_pipelines.automation.subscriptions import Subscription, load_subscriptions, resolve_window
from export_pipelines.request.model import TAG_SKIP_IF_EMPTY, TAG_SUBSCRIPTION
from export_pipelines.run.jobs import export_job

TAG_WINDOW_START = "export/window_start"
TAG_WINDOW_END = "export/window_end"


def schedule_name(subscription: Subscription) -> str:
    return f"{subscription.name}_export_schedule"


def subscription_schedule(subscription: Subscription) -> ScheduleDefinition:
    """The schedule of one subscription."""
    name = schedule_name(subscription)

    @schedule(
        name=name,
        job=export_job,
        cron_schedule=subscription.cron,
        execution_timezone=subscription.timezone,
        default_status=DefaultScheduleStatus.STOPPED if subscription.paused else DefaultScheduleStatus.RUNNING,
        description=f"Export {subscription.request.get('dataset', '?')} for {subscription.owner} "
        f"({subscription.cron}, {subscription.timezone}; window: {subscription.window or 'all rows'}).",
    )
    def _schedule(context: ScheduleEvaluationContext):
        if subscription.paused:
            return SkipReason(f"subscription {subscription.name} is paused in {name}'s subscriptions file")
        # Only a window since the last success reads run history (a unit test's context has no instance).
        instance = context.instance if subscription.window == "since_last_success" else None
        return run_request_for_tick(subscription, context.scheduled_execution_time, instance)

    return _schedule


def run_request_for_tick(
    subscription: Subscription, tick: datetime, instance: DagsterInstance | None, submitted_via: str | None = None
) -> RunRequest:
    """The one run of the tick scheduled at ``tick``: the same for the YAML schedules and the table's sensor.

    ``submitted_via`` is the gate's ``export/submitted_via`` of the runs that made this subscription's
    earlier windows (default: its schedule), read for ``since_last_success``.
    """
    via = submitted_via or f"schedule:{schedule_name(subscription)}"
    last_end = _last_window_end(instance, subscription, via) if subscription.window == "since_last_success" else None
    previous = _previous_tick(subscription, tick) if subscription.window == "since_last_success" else None
    window = resolve_window(subscription, tick, last_end, previous)
    request = subscription.export_request(window, tick)
    tags = {**request.run_tags(), TAG_SUBSCRIPTION: subscription.name}
    if subscription.skip_if_empty:
        tags[TAG_SKIP_IF_EMPTY] = "true"
    if window is not None:
        tags.update({TAG_WINDOW_START: window[0].isoformat(), TAG_WINDOW_END: window[1].isoformat()})
    return RunRequest(run_key=f"{subscription.name}@{tick.isoformat()}", run_config=request.run_config(), tags=tags)


def subscription_schedules(path: str | None = None) -> list[ScheduleDefinition]:
    """The schedules of every subscription in ``$EXPORT_SUBSCRIPTIONS_PATH`` (none when it is unset)."""
    return [subscription_schedule(subscription) for subscription in load_subscriptions(path)]


def _last_window_end(instance: DagsterInstance | None, subscription: Subscription, via: str) -> datetime | None:
    """The end of the window of the subscription's newest successful run that its schedule (or sensor) made."""
    if instance is None:
        return None
    runs = instance.get_runs(
        RunsFilter(
            job_name=export_job.name, statuses=[DagsterRunStatus.SUCCESS],
            tags={TAG_SUBSCRIPTION: subscription.name, TAG_SUBMITTED_VIA: via},
        ),
        limit=1,
    )  # fmt: skip
    text = runs[0].tags.get(TAG_WINDOW_END) if runs else None
    return datetime.fromisoformat(text) if text else None


def _previous_tick(subscription: Subscription, tick: datetime) -> datetime | None:
    from dagster._utils.schedules import cron_string_iterator

    earlier = cron_string_iterator(tick.timestamp(), subscription.cron, subscription.timezone, ascending=False)
    return next((moment for moment in earlier if moment < tick), None)

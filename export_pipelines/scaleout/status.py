"""What ``export-pipelines status`` reports: queue depth for autoscalers, and who is exporting.

An autoscaler (KEDA's Redis list scaler, for instance) adds Celery workers when the ``dagster``
or ``render`` list grows; ``queued_runs`` tells whether run workers or the per-user limits hold
exports back. Per user (the ``export/user`` tag the submission gate sets), the runs running and
queued; and the exports that failed in the last 24 hours, the latest with the audit's reason.

Only the runs that matter are read: active runs by status, failures by the time they were last
updated; never the whole history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from export_pipelines.observability.audit import EXPORT_JOB, failure_reason
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER
from export_pipelines.scaleout.celery_settings import QUEUES, broker_url, celery_app_config

_ACTIVE = {
    DagsterRunStatus.QUEUED: "queued",
    DagsterRunStatus.STARTING: "running",
    DagsterRunStatus.STARTED: "running",
}
FAILURE_WINDOW = timedelta(hours=24)
LISTED_FAILURES = 10


def celery_list_names(queues: tuple[str, ...] = QUEUES) -> dict[str, list[str]]:
    """The Redis lists that hold each Celery queue's waiting tasks, named as kombu's Redis transport names them.

    kombu keeps one list per priority step (0, 3, 6, 9 unless the broker's transport options change
    them): a task of priority p, clamped to 0..9, waits in the list of the highest step not above p,
    ``queue`` for step 0 and ``queue + "\\x06\\x16" + step`` for the others. dagster-celery gives a step
    the priority ``dagster-celery/run_priority`` + ``dagster-celery/priority`` (by default 0 + 5), so
    by default a step waits in ``dagster\\x06\\x163``, not in ``dagster``. An autoscaler must watch every
    list (deploy/keda-scaledobject.yaml does; a test holds it to this function and to Redis itself).
    """
    from kombu.transport.redis import Channel

    options = celery_app_config()["broker_transport_options"]
    steps = options.get("priority_steps", Channel.priority_steps)
    prefix = options.get("global_keyprefix") or ""
    return {
        queue: [prefix + (f"{queue}{Channel.sep}{step}" if step else queue) for step in steps] for queue in queues
    }


def celery_queue_lengths(url: str | None = None) -> dict[str, int]:
    """Pending Celery tasks per queue (every priority list added up)."""
    import redis

    names = celery_list_names()
    client = redis.Redis.from_url(url or broker_url(), socket_connect_timeout=3, socket_timeout=3)
    try:
        with client.pipeline(transaction=False) as pipe:
            for lists in names.values():
                for name in lists:
                    pipe.llen(name)
            lengths = iter(pipe.execute())
        return {queue: sum(next(lengths) for _ in lists) for queue, lists in names.items()}
    finally:
        client.close()


def active_runs(instance: DagsterInstance) -> dict:
    """Export runs queued and running (starting or started): in all, and per user, users sorted by name.

    A run without a user tag (one that never passed the submission gate) counts in the totals only.
    """
    records = instance.get_run_records(RunsFilter(job_name=EXPORT_JOB, statuses=list(_ACTIVE)))
    totals = {"queued": 0, "running": 0}
    users: dict[str, dict[str, int]] = {}
    for record in records:
        run = record.dagster_run
        state = _ACTIVE[run.status]
        totals[state] += 1
        if user := run.tags.get(TAG_USER):
            users.setdefault(user, {"running": 0, "queued": 0})[state] += 1
    return {"queued_runs": totals["queued"], "running_runs": totals["running"], "users": dict(sorted(users.items()))}


def recent_failures(
    instance: DagsterInstance, now: datetime | None = None, listed: int = LISTED_FAILURES
) -> dict:
    """Export runs that failed in the 24 hours before ``now``: how many, and the latest ``listed`` of them.

    Each listed failure has its run id, user, dataset, format, when it failed and why, as the audit says.
    """
    since = (now or datetime.now(UTC)) - FAILURE_WINDOW
    # Tagging a run (alerts, retention) also moves its update time: the end time says when it failed.
    records = instance.get_run_records(
        RunsFilter(job_name=EXPORT_JOB, statuses=[DagsterRunStatus.FAILURE], updated_after=since)
    )
    failed = sorted((r for r in records if _failed_at(r) > since), key=_failed_at, reverse=True)
    return {
        "failures_24h": len(failed),
        "recent_failures": [_failure(instance, record) for record in failed[: max(listed, 0)]],
    }


def _failed_at(record) -> datetime:
    if record.end_time is not None:
        return datetime.fromtimestamp(record.end_time, UTC)
    return record.update_timestamp.replace(tzinfo=record.update_timestamp.tzinfo or UTC)


def _failure(instance: DagsterInstance, record) -> dict:
    run = record.dagster_run
    return {
        "run_id": run.run_id,
        "user": run.tags.get(TAG_USER),
        "dataset": run.tags.get(TAG_DATASET),
        "format": run.tags.get(TAG_FORMAT),
        "failed_at": _failed_at(record).isoformat(),
        "reason": failure_reason(instance, run.run_id),
    }


def status_report(
    instance: DagsterInstance,
    broker: str | None = None,
    now: datetime | None = None,
    listed_failures: int = LISTED_FAILURES,
) -> dict:
    """Everything ``export-pipelines status`` prints; a broker that cannot be reached is reported, not raised."""
    report: dict = {"broker": None, "celery_queues": None, **active_runs(instance)}
    report.update(recent_failures(instance, now, listed_failures))
    try:
        report["celery_queues"] = celery_queue_lengths(broker)
        report["broker"] = "reachable"
    except Exception as error:  # the run counts are still worth reporting
        report["broker"] = f"unreachable: {error}"
    return report

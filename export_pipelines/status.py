"""Queue depth for autoscalers: Celery queue lengths in Redis and the runs waiting in Dagster's queue.

An autoscaler (KEDA's Redis list scaler, for instance) adds Celery workers when the ``dagster``
or ``render`` list grows; ``queued_runs`` tells whether run workers or the per-user limits hold
exports back.
"""

from __future__ import annotations

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from export_pipelines.celery_settings import QUEUES, broker_url

# kombu's Redis transport keeps one list per priority step: "name" and "name\x06\x16<step>".
_PRIORITY_SUFFIXES = ("",) + tuple(f"\x06\x16{step}" for step in (3, 6, 9))


def celery_queue_lengths(url: str | None = None) -> dict[str, int]:
    """Pending Celery tasks per queue (every priority step added up)."""
    import redis

    client = redis.Redis.from_url(url or broker_url(), socket_connect_timeout=3, socket_timeout=3)
    try:
        return {queue: sum(client.llen(queue + suffix) for suffix in _PRIORITY_SUFFIXES) for queue in QUEUES}
    finally:
        client.close()


def run_counts(instance: DagsterInstance) -> dict[str, int]:
    """Export runs waiting in the run queue and running now."""
    def count(*statuses):
        return instance.get_runs_count(RunsFilter(job_name="export_job", statuses=list(statuses)))

    return {
        "queued_runs": count(DagsterRunStatus.QUEUED),
        "running_runs": count(DagsterRunStatus.STARTING, DagsterRunStatus.STARTED),
    }


def status_report(instance: DagsterInstance, broker: str | None = None) -> dict:
    """Everything ``export-pipelines status`` prints; a broker that cannot be reached is reported, not raised."""
    report: dict = {"broker": None, "celery_queues": None, **run_counts(instance)}
    try:
        report["celery_queues"] = celery_queue_lengths(broker)
        report["broker"] = "reachable"
    except Exception as error:  # the run counts are still worth reporting
        report["broker"] = f"unreachable: {error}"
    return report

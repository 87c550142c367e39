"""Celery settings shared by the launcher (the Celery executor) and the workers (``celery_app``).

One source for both sides, so a worker and the run that sends it work agree on broker, backend,
queues and delivery guarantees. Everything comes from the environment of the process that reads
it: the launcher when a run starts, each worker when it starts.
"""

from __future__ import annotations

import os
import time

from dagster import Field

from export_pipelines.errors import PermanentExportError

BROKER_ENV = "EXPORT_CELERY_BROKER_URL"
BACKEND_ENV = "EXPORT_CELERY_BACKEND_URL"
VISIBILITY_ENV = "EXPORT_CELERY_VISIBILITY_TIMEOUT"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "dagster"
RENDER_QUEUE = "render"
QUEUES = (DEFAULT_QUEUE, RENDER_QUEUE)
QUEUE_TAG = "dagster-celery/queue"

CELERY_EXTRA_CONFIG = {
    "worker_wait_seconds": Field(
        int,
        default_value=120,
        description="How long a run waits for workers on every queue before failing with a clear error.",
    ),
}


class NoCeleryWorkers(PermanentExportError):
    """No worker consumes a queue the export needs: the run would otherwise wait forever."""


def broker_url() -> str:
    return os.environ.get(BROKER_ENV) or DEFAULT_BROKER


def backend_url() -> str:
    return os.environ.get(BACKEND_ENV) or broker_url()


def celery_app_config() -> dict:
    """Settings of the Celery app on both sides.

    acks_late + reject_on_worker_lost: a task is acknowledged only when its step finished, so a
    worker that dies mid-step gives the step back to the queue instead of losing it. Redis hands
    an unacknowledged task to another worker after the visibility timeout, which must exceed the
    longest step (render of a large export), hence 30 minutes by default.

    A broker that restarts (failover, an upgrade) must not fail the runs in flight: the run's
    orchestrator polls step results from the backend and sends new steps to the broker, so both
    retry connection errors with backoff for about two minutes before giving up (Celery's own
    defaults give up after about a second when publishing and at once when reading results).
    The broker itself must keep its data across a restart (Redis with an append-only file).
    """
    visibility = int(os.environ.get(VISIBILITY_ENV) or 1800)
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": DEFAULT_QUEUE,
        "task_default_priority": 5,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # Sweep for abandoned tasks often enough that a dead worker's step is back in the queue
            # about one visibility timeout after it died (kombu's default sweep is every ~100 s).
            "unacked_restore_interval": max(1, min(10, visibility // 5)),
            "unacked_restore_throttle": 1,
            "max_retries": 3,
        },
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "result_backend_always_retry": True,
        "result_backend_max_retries": 40,
        "result_backend_base_sleep_between_retries_ms": 200,
        "result_backend_max_sleep_between_retries_ms": 5000,
        "task_publish_retry_policy": {
            "max_retries": 40,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 5,
        },
    }


def prepare_celery_config(config: dict) -> dict:
    """Fill broker, backend and app settings from the environment; wait for workers on every queue."""
    prepared = {key: value for key, value in config.items() if key not in CELERY_EXTRA_CONFIG}
    prepared["broker"] = config.get("broker") or broker_url()
    prepared["backend"] = config.get("backend") if config.get("backend") not in (None, "rpc://") else backend_url()
    prepared["config_source"] = {**celery_app_config(), **(config.get("config_source") or {})}
    wait_for_workers(prepared["broker"], prepared["backend"], config.get("worker_wait_seconds", 120))
    return prepared


def wait_for_workers(broker: str, backend: str, seconds: float, queues: tuple[str, ...] = QUEUES) -> dict:
    """Return {queue: [workers]} once every queue has a consumer; raise NoCeleryWorkers after ``seconds``."""
    from celery import Celery

    app = Celery("export_pipelines_probe", broker=broker, backend=backend)
    deadline = time.monotonic() + seconds
    problem = ""
    try:
        while True:
            try:
                consumers = queue_consumers(app)
            except Exception as error:  # a broker restarting or out of reach: keep asking until the deadline
                consumers, problem = {}, f" (last broker error: {error})"
            missing = [queue for queue in queues if not consumers.get(queue)]
            if not missing:
                return consumers
            if time.monotonic() >= deadline:
                raise NoCeleryWorkers(
                    f"no Celery worker consumes queue(s) {', '.join(missing)} on {_safe(broker)} after {seconds:g} s"
                    f"{problem}; start one with: "
                    f"celery -A export_pipelines.scaleout.celery_app worker -Q {','.join(QUEUES)}"
                )
            time.sleep(1)
    finally:
        app.close()


def queue_consumers(app) -> dict[str, list[str]]:
    """Which workers consume which queue, asked over the broker (empty when nobody answers)."""
    answers = app.control.inspect(timeout=1.0).active_queues() or {}
    consumers: dict[str, list[str]] = {}
    for worker, queues in answers.items():
        for queue in queues:
            consumers.setdefault(queue["name"], []).append(worker)
    return consumers


def _safe(url: str) -> str:
    """The URL without its password, for error messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]

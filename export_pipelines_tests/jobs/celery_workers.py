"""Celery worker processes for the tests: started, waited for, killed like a machine dying."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from export_pipelines.scaleout.celery_settings import QUEUES, queue_consumers

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Worker:
    """One `celery -A export_pipelines.scaleout.celery_app worker` process group."""

    def __init__(
        self,
        name: str,
        env: dict,
        log: Path,
        cwd: Path = PROJECT,
        prefix: tuple[str, ...] = (),
        queues: tuple[str, ...] = QUEUES,
    ):
        self.name = name
        self.queues = queues
        command = [*prefix,
            str(BIN / "celery"), "-A", "export_pipelines.scaleout.celery_app", "worker", "-Q", ",".join(queues),
            "-c", "1", "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel=INFO",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def pause(self) -> None:
        """SIGSTOP the process group: it holds what it holds, and writes nothing more."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Like a machine dying: the whole process group, no warm shutdown."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_workers(env, names, logs: Path, broker_url, extra_env=None, **options) -> list[Worker]:
    from celery import Celery

    workers = [Worker(name, {**env, **(extra_env or {})}, logs / f"{name}.log", **options) for name in names]
    app = Celery("probe", broker=broker_url)
    deadline = time.monotonic() + 90
    try:
        while True:
            consumers = queue_consumers(app)
            ready = {
                w.name
                for w in workers
                if all(w.name in {c.split("@")[0] for c in consumers.get(queue, [])} for queue in w.queues)
            }
            if ready >= set(names):
                return workers
            assert all(w.process.poll() is None for w in workers), "a Celery worker exited during start-up"
            assert time.monotonic() < deadline, f"workers not ready after 90 s (ready: {ready})"
            time.sleep(0.5)
    finally:
        app.close()


def step_hosts(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """step key -> Celery worker that executed it (the last one, when a step was sent again)."""
    return {key: hosts[-1] for key, hosts in step_host_history(instance, run_id).items()}


def step_host_history(instance: DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """step key -> every Celery worker that took the step, in order, from the run's event log."""
    hosts: dict[str, list[str]] = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        worker = celery_worker(entry)
        if worker is not None and entry.dagster_event.step_key:
            hosts.setdefault(entry.dagster_event.step_key, []).append(worker)
    return hosts


def celery_worker(entry) -> str | None:
    """The worker named by dagster-celery's "Executing steps ... in celery worker" engine event, else None."""
    event = entry.dagster_event
    if event is None or not event.is_engine_event or not event.engine_event_data:
        return None
    worker = event.engine_event_data.metadata.get("Celery worker")
    return worker.value if worker is not None else None

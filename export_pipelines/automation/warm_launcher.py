"""A run launcher that starts each run in a process forked from a warm forkserver: the embedded default's.

Why: Dagster's DefaultRunLauncher asks the code server to start each run in a fresh *spawned*
interpreter, which imports dagster (~1.1 s), its storage stack (~0.95 s) and this project (~0.5 s)
before the first step: of a 1,000-row export's 4.5 s p50 through GraphQL, ~2.5 s was that start
(benchmarks/graphql_latency_bench.py). WarmRunLauncher keeps a ``forkserver`` (multiprocessing) in
each process that launches runs (the daemon; the webserver too, with the gate's launch at submission),
started on the first launch with those modules imported once; each run is a fork of it that goes
straight to running the job, exactly as ``dagster api execute_run`` runs it (the job rebuilt from the
run's code origin, the instance from its ref). The forkserver is a separate single-threaded process
that has only imported modules: a run inherits no database connection, thread or lock from the daemon.

What it costs: the forkserver keeps the code imported when it started. Each launch compares the
package's code version (``code_version_on_disk``: a hash of its files, or $EXPORT_CODE_VERSION) with the
one the forkserver started with and starts it again when they differ; a dependency upgraded, or this
launcher and the gate themselves, still need the daemon and webserver restarted. Runs are processes
on the launching process's machine: terminate (SIGTERM to the recorded pid) and the worker health
check (is the pid alive) work only where that pid can be seen, i.e. webserver and daemon on one
machine. A run has the launching process's interpreter, environment (EXPORT_* settings) and working
directory, not the code server's. Runs are children of the forkserver, in the launching process's
group: stopping the whole group stops them too, as it stops the code server's runs.

In dagster.yaml (the project's; deploy/dagster.yaml keeps SlotCheckingRunLauncher)::

    run_launcher:
      module: export_pipelines.automation.warm_launcher
      class: WarmRunLauncher
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from multiprocessing import forkserver
from typing import Any, Self

from dagster import Array, Field
from dagster import _check as check
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClass, ConfigurableClassData, deserialize_value, serialize_value

from export_pipelines.automation.running_limit import take_running_slot
from export_pipelines.observability.code_version import code_version_on_disk

# The run tag holding the pid of a run's process, read back by terminate and the health check.
TAG_PID = "export/warm_pid"
# Imported once in the forkserver, so that no run imports them again (the list: what a forked run of a CSV
# export imported on its own before, sys.modules read at its end).
DAGSTER_MODULES = (
    "dagster", "dagster._cli.api", "dagster._core.execution.api", "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.event_log.sqlite", "dagster._core.storage.schedules.sqlite", "sqlalchemy", "alembic",
    "dagster._core.instance.factory", "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.sqlite_storage", "dagster._core.executor.in_process", "upath", "fsspec",
    "watchdog.observers.polling", "upath.implementations.local", "fsspec.implementations.local",
)  # fmt: skip
# pandas too: pyarrow imports it (~0.4 s) at a run's first conversion of Python values, though nothing here uses
# it. Every format: each run pays for none of them.
DEFAULT_PRELOAD = [
    "export_pipelines.definitions", "export_pipelines.automation.gate", "pyarrow", "pyarrow.csv", "pyarrow.parquet",
    "pyarrow.pandas_compat", "pandas", *(f"export_pipelines.formats.{name}" for name in
                                         ("csv", "json", "jsonl", "parquet", "xlsx", "pdf")),
    "export_pipelines.storage.local",
]  # fmt: skip


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a process forked from a forkserver that has dagster and the code imported."""

    def __init__(self, preload: Sequence[str] = tuple(DEFAULT_PRELOAD), inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self.preload = [*DAGSTER_MODULES, *preload]
        self._context = None
        self._code_version = None
        self._warming, self._warm = None, threading.Event()
        self._lock = threading.Lock()  # the daemon launches from more than one thread
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload": Field(
                Array(str), is_required=False, default_value=list(DEFAULT_PRELOAD),
                description="Modules the forkserver imports once at its start, besides dagster and its storage: "
                "the code location's module and its heavy libraries.",
            )
        }  # fmt: skip

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Self:
        return cls(preload=config_value.get("preload", DEFAULT_PRELOAD), inst_data=inst_data)

    def _forkserver(self, run: DagsterRun | None = None):
        """The forkserver context, started again first when the code on disk is no longer what it imported."""
        version = code_version_on_disk()
        with self._lock:
            if self._context is not None and version != self._code_version:
                if run is not None:
                    self._instance.report_engine_event(
                        f"The code changed (version {self._code_version} -> {version}): the warm forkserver is "
                        "started again, so this run imports the new code once.", run, cls=self.__class__,
                    )  # fmt: skip
                # Runs forked from the old forkserver keep running: they are its children, not its threads.
                forkserver._forkserver._stop()  # noqa: SLF001  (the one way to restart multiprocessing's)
                self._context = None
            if self._context is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(self.preload)
                self._context, self._code_version = context, version
            return self._context

    def launches_on_submission(self) -> bool:
        """Whether the gate may launch a run at its submission (``launch_on_submission``): once the forkserver is up.

        The first call starts it in the background (a few seconds of imports), so that the submission that
        asked is not held that long: that run waits for the daemon; the ones after it start at once.
        """
        with self._lock:
            if self._warming is None:
                self._warming = threading.Thread(target=self._warm_up, name="warm-forkserver", daemon=True)
                self._warming.start()
        return self._warm.is_set()

    def _warm_up(self) -> None:
        # ensure_running returns once the forkserver process exists, before its imports are done; a first
        # fork waits for them. Forking a no-op here makes that wait this thread's, not a submission's.
        probe = self._forkserver().Process(target=os.getpid, name="warm-forkserver-probe")
        probe.start()
        probe.join()
        self._warm.set()

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if not take_running_slot(self._instance, run):  # the user's last slot went to a command-line export
            return
        check.not_none(run.job_code_origin, f"run {run.run_id} has no code origin to load its job from")
        process = self._forkserver(run).Process(
            target=execute_run_in_forked_process,
            args=(run.run_id, serialize_value(self._instance.get_ref())),
            name=f"dagster-run-{run.run_id}",
        )
        process.start()
        # The run outlives the daemon: not joined at its exit (multiprocessing would wait for every run).
        multiprocessing.process._children.discard(process)  # noqa: SLF001
        self._instance.add_run_tags(run.run_id, {TAG_PID: str(process.pid)})

    def terminate(self, run_id: str) -> bool:
        check.str_param(run_id, "run_id")
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        pid = _pid(run)
        if pid is None or not _alive(pid):
            self._instance.report_engine_event(f"No process {pid} to stop for this run.", run, cls=self.__class__)
            return False
        os.kill(pid, signal.SIGTERM)  # the run's process reads it as an interrupt and reports RUN_CANCELED
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = _pid(run)
        if pid is None:  # not forked here: a command-line export runs in its command's process, which it watches
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not started by this launcher: no pid to check")
        if _alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process {pid} is gone")


def _pid(run: DagsterRun) -> int | None:
    value = run.tags.get(TAG_PID)
    return int(value) if value and value.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has the pid now; ours is gone
        return False
    return True


def execute_run_in_forked_process(run_id: str, serialized_instance_ref: str) -> None:
    """In the forked process: run ``run_id`` as ``dagster api execute_run`` does; exits 1 if the run failed."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster._utils.interrupts import capture_interrupts

    # What this process started with, before it opens anything: written into the run's log below.
    started_with = _inherited()
    done = threading.Event()
    _interrupt_on_sigterm(done)
    with capture_interrupts():
        instance_ref = deserialize_value(serialized_instance_ref, InstanceRef)
        with DagsterInstance.from_ref(instance_ref) as instance:
            run = instance.get_run_by_id(run_id)
            if run is not None:
                instance.report_engine_event(
                    f"Forked from the warm forkserver (pid {os.getppid()}) with {started_with['threads']} "
                    f"thread(s) and {len(started_with['files'])} open file(s) {started_with['files']}.",
                    run, cls=WarmRunLauncher,
                )  # fmt: skip
            code = _execute_run_command_body(run_id, instance, lambda event: None, set_exit_code_on_failure=True)
            done.set()
    if code:
        raise SystemExit(code)


def _interrupt_on_sigterm(done: threading.Event, every: float = 1.0, most: int = 10) -> None:
    """On SIGTERM, interrupts the run (SIGINT, as Dagster's termination does) until it ends.

    Once is not enough: Dagster retries a step with a retry policy (every export step has one) that
    an interrupt stops mid-way; only an interrupt between steps makes the executor stop the run, so
    it is repeated. Dagster points SIGTERM's handler at SIGINT's whenever it swaps that one (the
    first interrupt), so SIGTERM is seen here through the signal wakeup fd, which that leaves alone.
    The signal mask is not touched: the run's own subprocesses (log capture's tail) inherit it.
    """
    read, write = os.pipe()  # not inherited by the run's subprocesses
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)

    def interrupt() -> None:
        while signal.SIGTERM not in os.read(read, 64):
            pass
        for _ in range(most):
            if done.is_set():
                return
            os.kill(os.getpid(), signal.SIGINT)
            if done.wait(every):
                return

    threading.Thread(target=interrupt, name="sigterm-interrupts-run", daemon=True).start()


def _inherited() -> dict:
    """Threads, and files other than stdio, pipes, sockets and devices, this process holds."""
    files = []
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        if int(fd) <= 2:  # stdout and stderr are the daemon's, as a spawned run's are
            continue
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/") and not target.startswith("/dev/"):
            files.append(target)
    return {"threads": threading.active_count(), "files": files}

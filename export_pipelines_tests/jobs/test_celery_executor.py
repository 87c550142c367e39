"""export_job on the Celery executor: real Redis (the test's own), real PostgreSQL instance storage,
real worker processes. Select with `pytest -k celery`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance

from export_pipelines.automation.launch import run_export
from export_pipelines.request.model import ExportRequest
from export_pipelines.scaleout.celery_settings import DEFAULT_QUEUE, RENDER_QUEUE
from export_pipelines_tests.exported import decrypted_copy
from export_pipelines_tests.jobs.celery_workers import (
    BIN,
    PROJECT,
    Worker,
    celery_worker,
    start_workers,
    step_host_history,
    step_hosts,
)

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

REQUEST = dict(user="analyst", dataset="orders", format="jsonl", chunk_size=100)  # 1,500 rows: 6+ chunks
FINISHED = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_UP_FOR_RETRY)


@pytest.fixture(scope="module")
def celery_env(tmp_path_factory, postgres_source, postgres_database, redis_server):
    """Environment shared by the launcher (this process) and the workers, as on several machines."""
    home = tmp_path_factory.mktemp("celery_home")
    shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        # dagster-postgres speaks psycopg2 (plain postgresql://), not psycopg 3.
        "DAGSTER_POSTGRES_URL": postgres_database("dagster").replace("postgresql+psycopg://", "postgresql://"),
        "EXPORT_MAX_CONCURRENT_RUNS": "20",
        "EXPORT_SOURCE_DB_URL": postgres_source,
        "EXPORT_DATA_DIR": str(home / "var"),
        "EXPORT_CELERY_BROKER_URL": redis_server.url(0),
        "EXPORT_CELERY_BACKEND_URL": redis_server.url(1),
        # Long enough that a slow step on a busy machine is not handed out a second time while it runs (a
        # second render_file then finds its chunks gone); the kill test's workers use a short one.
        "EXPORT_CELERY_VISIBILITY_TIMEOUT": "300",
        # Chunks of the request's 100 rows, the server's JSON Lines included: transform steps for both workers.
        "EXPORT_SERVER_CHUNK_ROWS": "1",
        # A release id, as a deploy would set it: launcher and workers agree on purpose here.
        "EXPORT_CODE_VERSION": "release-under-test",
    }
    from export_pipelines.observability.code_version import code_version

    code_version.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("SMTP_HOST", raising=False)
        yield {**os.environ}


@pytest.fixture
def two_workers(celery_env, tmp_path):
    workers = start_workers(celery_env, ["w1", "w2"], tmp_path, celery_env["EXPORT_CELERY_BROKER_URL"])
    yield workers
    for worker in workers:
        worker.stop()


def _lines(location: str) -> list[str]:
    return Path(location).read_text(encoding="utf-8").splitlines()


def test_celery_two_workers_share_steps_and_the_file_matches_in_process(celery_env, two_workers, tmp_path):
    instance = DagsterInstance.get()
    request = ExportRequest(**REQUEST)

    record, location = run_export(request, instance, executor="celery", executor_config={"worker_wait_seconds": 30})
    embedded, embedded_location = run_export(request, instance)

    assert record.status == "SUCCESS", record.error
    hosts = step_hosts(instance, record.run_id)
    transform_hosts = {host.split("@")[0] for key, host in hosts.items() if key.startswith("transform_chunk")}
    assert transform_hosts == {"w1", "w2"}, hosts
    assert hosts["render_file"].split("@")[0] in {"w1", "w2"}
    exported, in_process = decrypted_copy(record.file_key, tmp_path), decrypted_copy(embedded.file_key, tmp_path)
    assert Path(exported).read_bytes() == Path(in_process).read_bytes()
    assert record.sha256 == embedded.sha256 and record.rows == embedded.rows > 0


def test_celery_render_runs_on_the_render_queue_worker_and_nothing_else_does(celery_env, tmp_path, redis_server):
    """render_file is tagged for the render queue: a worker consuming only that queue renders, and only renders."""
    broker = redis_server.url(8)  # a broker of its own: no worker of another test consumes it
    env = {**celery_env, "EXPORT_CELERY_BROKER_URL": broker}
    general = start_workers(env, ["general"], tmp_path, broker, queues=(DEFAULT_QUEUE,))
    renderer = start_workers(env, ["renderer"], tmp_path, broker, queues=(RENDER_QUEUE,))
    instance = DagsterInstance.get()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("EXPORT_CELERY_BROKER_URL", broker)
            record, _ = run_export(ExportRequest(**REQUEST), instance, executor="celery")
    finally:
        for worker in general + renderer:
            worker.stop()

    assert record.status == "SUCCESS", record.error
    hosts = {key: host.split("@")[0] for key, host in step_hosts(instance, record.run_id).items()}
    assert hosts.pop("render_file") == "renderer", hosts
    assert len(hosts) > 3 and set(hosts.values()) == {"general"}, hosts


def test_a_step_failing_on_a_celery_worker_reaches_sentry_from_that_worker(
    celery_env, tmp_path, redis_server, sentry_receiver, monkeypatch
):
    """The worker loads celery_app, which starts error tracking; its pool process sends the failed step's event."""
    catalog = yaml.safe_load(files("export_pipelines.datasets").joinpath("catalog.yaml").read_text())
    catalog["datasets"]["orders"]["columns"]["ghost"] = {"type": "string", "label": "Ghost"}  # a deployment bug
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    broker = redis_server.url(9)
    env = {
        **celery_env, "EXPORT_CELERY_BROKER_URL": broker, "EXPORT_CATALOG_PATH": str(tmp_path / "catalog.yaml"),
        "EXPORT_SENTRY_DSN": sentry_receiver.dsn,
    }  # fmt: skip
    for name in ("EXPORT_CELERY_BROKER_URL", "EXPORT_CATALOG_PATH"):
        monkeypatch.setenv(name, env[name])  # the launcher (this process) sends no event: it runs no step
    workers = start_workers(env, ["tracked"], tmp_path, broker)
    try:
        filters = [{"column": "customer_name", "op": "contains", "value": "Quixotic Zebra"}]
        request = ExportRequest(**{**REQUEST, "user": "admin", "filters": filters})
        record, _ = run_export(request, DagsterInstance.get(), executor="celery")
        deadline = time.monotonic() + 30
        while not sentry_receiver.events() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()

    assert record.status == "FAILURE"
    (event,) = sentry_receiver.events()
    assert event["tags"]["process"] == "celery-worker" and event["tags"]["run_id"] == record.run_id
    assert event["tags"]["step"] == "collect_chunks" and event["tags"]["user"] == "admin"
    assert b"Quixotic Zebra" not in sentry_receiver.everything()


def test_celery_run_survives_a_worker_killed_mid_run(celery_env, tmp_path, monkeypatch):
    # The task a dead worker held goes back to the queue after the visibility timeout: 8 s here.
    short = {"EXPORT_CELERY_VISIBILITY_TIMEOUT": "8"}
    monkeypatch.setenv("EXPORT_CELERY_VISIBILITY_TIMEOUT", "8")
    instance = DagsterInstance.get()
    earlier = {run.run_id for run in instance.get_runs()}
    victim, survivor = start_workers(celery_env, ["w1", "w2"], tmp_path, celery_env["EXPORT_CELERY_BROKER_URL"], short)
    # The survivor takes nothing until the victim holds a step: on a busy machine the other worker could
    # otherwise take every step before the victim is seen holding one.
    survivor.pause()
    launcher = subprocess.Popen(
        [str(BIN / "export-pipelines"), "export", "--executor", "celery", "--json",
         *[f"--{name.replace('_', '-')}={value}" for name, value in REQUEST.items()]],
        env={**celery_env, **short}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_id = _new_run_id(instance, earlier)
        held = _pause_while_holding_a_step(instance, run_id, victim)
        survivor.resume()
        victim.kill()
        stdout, stderr = launcher.communicate(timeout=300)
    finally:
        survivor.resume()
        if launcher.poll() is None:
            launcher.kill()
        for worker in (victim, survivor):
            worker.stop()

    result = json.loads(stdout)
    assert result["status"] == "SUCCESS" and result["run_id"] == run_id, stderr
    # The step the victim died in was sent again and ran to the end on the other worker, once.
    assert [h.split("@")[0] for h in step_host_history(instance, run_id)[held]] == [victim.name, survivor.name]
    assert _step_events(instance, run_id, held, DagsterEventType.STEP_SUCCESS) == 1
    exported = _lines(decrypted_copy(result["file_key"], tmp_path))
    keys = [json.loads(line)["order_id"] for line in exported]
    assert len(keys) == len(set(keys)) == result["rows"] > 0
    assert keys == sorted(keys)
    embedded, _ = run_export(ExportRequest(**REQUEST), instance)
    assert exported == _lines(decrypted_copy(embedded.file_key, tmp_path))


def _new_run_id(instance: DagsterInstance, earlier: set[str]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = [run.run_id for run in instance.get_runs() if run.run_id not in earlier]
        if new:
            return new[0]
        time.sleep(0.2)
    raise AssertionError("the launcher started no run in 60 s")


def _pause_while_holding_a_step(instance: DagsterInstance, run_id: str, victim: Worker) -> str:
    """Stop the victim (SIGSTOP) as soon as it started a step; return that step's key once the event
    log, read with the victim stopped, shows the step started on it and not finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _steps_held(instance, run_id, victim.name):
            victim.pause()
            time.sleep(0.5)  # whatever it wrote before it stopped has landed
            held = _steps_held(instance, run_id, victim.name)
            if held:
                return held[0]
            victim.resume()  # it finished that step in the meantime: wait for its next one
        time.sleep(0.05)
    raise AssertionError(f"{victim.name} started no step of run {run_id} in 120 s: {step_hosts(instance, run_id)}")


def _steps_held(instance: DagsterInstance, run_id: str, worker: str) -> list[str]:
    """Steps whose last Celery hand-out went to ``worker``, started there (STEP_START), and not finished."""
    taken, started = {}, set()
    for entry in instance.all_logs(run_id):
        event, host = entry.dagster_event, celery_worker(entry)
        if event is None or not event.step_key:
            continue
        if host is not None:
            taken[event.step_key] = host.split("@")[0]
            started.discard(event.step_key)
        elif event.event_type == DagsterEventType.STEP_START:
            started.add(event.step_key)
        elif event.event_type in FINISHED:
            started.discard(event.step_key)
            taken.pop(event.step_key, None)
    return sorted(key for key in started if taken.get(key) == worker)


def _step_events(instance: DagsterInstance, run_id: str, step_key: str, event_type: DagsterEventType) -> int:
    return sum(1 for entry in instance.all_logs(run_id, of_type=event_type) if entry.step_key == step_key)


def test_a_celery_run_completes_when_the_broker_restarts_while_it_is_in_flight(
    celery_env, persistent_redis_server, tmp_path
):
    """Redis goes away and comes back (with its data: a broker is run with an append-only file) while
    steps are being sent and run; the run still completes with the same file as in process."""
    instance = DagsterInstance.get()
    broker = persistent_redis_server
    env = {**celery_env, "EXPORT_CELERY_BROKER_URL": broker.url(0), "EXPORT_CELERY_BACKEND_URL": broker.url(1)}
    workers = start_workers(env, ["b1", "b2"], tmp_path, broker.url(0))
    earlier = {run.run_id for run in instance.get_runs()}
    launcher = subprocess.Popen(
        [str(BIN / "export-pipelines"), "export", "--executor", "celery", "--json",
         *[f"--{name.replace('_', '-')}={value}" for name, value in REQUEST.items()]],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_id = _new_run_id(instance, earlier)
        _wait_for_a_step_on_celery(instance, run_id)
        stopped = time.time()
        broker.stop()
        time.sleep(2)  # steps in flight meet a broker that is gone
        broker.start()
        restarted = time.time()
        stdout, stderr = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for worker in workers:
            worker.stop()

    result = json.loads(stdout)
    assert result["status"] == "SUCCESS" and result["run_id"] == run_id, stderr
    # The outage overlapped the run's work: steps had gone to Celery before it, and steps were sent and
    # finished after it (had the run ended before the broker stopped, this would prove nothing).
    sent = [entry.timestamp for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
            if celery_worker(entry)]  # fmt: skip
    finished = [entry.timestamp for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)]
    assert min(sent) < stopped and max(sent) > restarted, (stopped, restarted, sorted(sent))
    assert sum(at > restarted for at in finished) >= 2, (stopped, restarted, sorted(finished))
    embedded, _ = run_export(ExportRequest(**REQUEST), instance)
    assert _lines(decrypted_copy(result["file_key"], tmp_path)) == _lines(decrypted_copy(embedded.file_key, tmp_path))


def _wait_for_a_step_on_celery(instance: DagsterInstance, run_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(celery_worker(entry) for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no step of run {run_id} reached a Celery worker in 120 s")


def test_celery_keeps_working_after_the_broker_restarts(celery_env, two_workers, redis_server):
    instance = DagsterInstance.get()
    first, _ = run_export(ExportRequest(**REQUEST), instance, executor="celery")

    redis_server.restart()
    second, _ = run_export(
        ExportRequest(**REQUEST), instance, executor="celery", executor_config={"worker_wait_seconds": 60}
    )

    assert first.status == second.status == "SUCCESS", (first.error, second.error)
    assert first.sha256 == second.sha256


def test_celery_without_workers_fails_with_a_clear_message(celery_env, redis_server, monkeypatch):
    monkeypatch.setenv("EXPORT_CELERY_BROKER_URL", redis_server.url(7))  # no worker listens on db 7
    started = time.monotonic()

    with pytest.raises(Exception, match="no Celery worker consumes queue") as failure:
        run_export(ExportRequest(**REQUEST), DagsterInstance.get(), executor="celery",
                   executor_config={"worker_wait_seconds": 3})  # fmt: skip

    assert time.monotonic() - started < 60
    assert "celery -A export_pipelines.scaleout.celery_app worker" in str(failure.value)


def test_celery_worker_with_stale_code_fails_the_run(celery_env, tmp_path, redis_server, monkeypatch):
    from export_pipelines.observability.code_version import code_version

    code_version.cache_clear()
    broker = redis_server.url(3)
    monkeypatch.setenv("EXPORT_CELERY_BROKER_URL", broker)
    stale = start_workers(
        {**celery_env, "EXPORT_CELERY_BROKER_URL": broker}, ["stale"], tmp_path, broker,
        extra_env={"EXPORT_CODE_VERSION": "release-2025-01-01"},
    )  # fmt: skip
    try:
        record, location = run_export(ExportRequest(**REQUEST), DagsterInstance.get(), executor="celery")
    finally:
        for worker in stale:
            worker.stop()

    assert record.status == "FAILURE" and location is None
    assert "release-2025-01-01" in record.error and "restart the Celery workers" in record.error


def test_a_worker_whose_error_tracker_cannot_start_still_runs_steps(celery_env, tmp_path):
    """A malformed Sentry DSN on a worker: one warning in its log, and it takes and runs steps as usual."""
    (worker,) = start_workers(
        celery_env, ["no-tracker"], tmp_path, celery_env["EXPORT_CELERY_BROKER_URL"],
        extra_env={"EXPORT_SENTRY_DSN": "sentry.example/1"},
    )  # fmt: skip
    instance = DagsterInstance.get()
    try:
        record, _ = run_export(
            ExportRequest(**REQUEST), instance, executor="celery", executor_config={"worker_wait_seconds": 30}
        )
    finally:
        worker.stop()

    assert record.status == "SUCCESS", record.error
    hosts = set(step_hosts(instance, record.run_id).values())
    assert hosts and all(host.startswith("no-tracker@") for host in hosts), hosts
    log = (tmp_path / "no-tracker.log").read_text()
    assert log.count("Error tracking is off in this process: EXPORT_SENTRY_DSN is set") == 1, log

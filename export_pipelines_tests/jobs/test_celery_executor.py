"""export_job on the Celery executor: real Redis (the test's own), real PostgreSQL instance storage,
real worker processes. Select with `pytest -k celery`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from export_pipelines.launch import run_export
from export_pipelines.request import ExportRequest
from export_pipelines_tests.exported import decrypted_copy
from export_pipelines_tests.jobs.celery_workers import BIN, PROJECT, start_workers, step_hosts

REQUEST = dict(user="analyst", dataset="orders", format="jsonl", chunk_size=100)  # 1,500 rows: 6+ chunks


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
        "EXPORT_CELERY_VISIBILITY_TIMEOUT": "8",
        # A release id, as a deploy would set it: launcher and workers agree on purpose here.
        "EXPORT_CODE_VERSION": "release-under-test",
    }
    from export_pipelines.code_version import code_version

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


def test_celery_two_workers_share_steps_and_the_file_matches_in_process(celery_env, two_workers):
    instance = DagsterInstance.get()
    request = ExportRequest(**REQUEST)

    record, location = run_export(request, instance, executor="celery", executor_config={"worker_wait_seconds": 30})
    embedded, embedded_location = run_export(request, instance)

    assert record.status == "SUCCESS", record.error
    hosts = step_hosts(instance, record.run_id)
    transform_hosts = {host.split("@")[0] for key, host in hosts.items() if key.startswith("transform_chunk")}
    assert transform_hosts == {"w1", "w2"}, hosts
    assert hosts["render_file"].split("@")[0] in {"w1", "w2"}
    assert Path(decrypted_copy(record.file_key)).read_bytes() == Path(decrypted_copy(embedded.file_key)).read_bytes()
    assert record.sha256 == embedded.sha256 and record.rows == embedded.rows > 0


def test_celery_run_survives_a_worker_killed_mid_run(celery_env, two_workers):
    instance = DagsterInstance.get()
    launcher = subprocess.Popen(
        [str(BIN / "export-pipelines"), "export", "--executor", "celery", "--json",
         *[f"--{name.replace('_', '-')}={value}" for name, value in REQUEST.items()]],
        env=celery_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    victim = two_workers[0]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = instance.get_runs(limit=1)
        if runs and any(h.startswith("w1@") for h in step_hosts(instance, runs[0].run_id).values()):
            break
        time.sleep(0.2)
    victim.kill()

    stdout, stderr = launcher.communicate(timeout=300)

    result = json.loads(stdout)
    assert result["status"] == "SUCCESS", stderr
    exported = _lines(decrypted_copy(result["file_key"]))
    keys = [json.loads(line)["order_id"] for line in exported]
    assert len(keys) == len(set(keys)) == result["rows"]
    assert keys == sorted(keys)
    embedded, _ = run_export(ExportRequest(**REQUEST), instance)
    assert exported == _lines(decrypted_copy(embedded.file_key))


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
    assert "celery -A export_pipelines.celery_app worker" in str(failure.value)


def test_celery_worker_with_stale_code_fails_the_run(celery_env, tmp_path, redis_server, monkeypatch):
    from export_pipelines.code_version import code_version

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

"""export-pipelines status: runs queued and running per user, and the failures of the last 24 hours.

A real Dagster instance under a temporary DAGSTER_HOME holds runs of export_job in every state:
active runs created as the submission gate leaves them (tagged with their user), a refused export
that really ran and failed, and failures placed 23 and 25 hours back with Dagster's own clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.test_utils import freeze_time

from export_pipelines import cli
from export_pipelines.automation.launch import run_export
from export_pipelines.automation.retention import retention_cleanup_job
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines.run.jobs import export_job
from export_pipelines.scaleout.status import status_report
from export_pipelines_tests.automation.conftest import _origin

# A database of the test Redis that nothing else writes to: every Celery queue is empty there.
BROKER_DB = 9


@pytest.fixture
def instance(sqlite_url, dagster_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_MAX_QUEUED_PER_USER"):
        monkeypatch.delenv(name, raising=False)
    with DagsterInstance.get() as instance:
        yield instance


def _create(instance: DagsterInstance, user: str, status: DagsterRunStatus, dataset: str = "orders") -> str:
    request = ExportRequest(user=user, dataset=dataset, format="csv")
    run = instance.create_run_for_job(
        export_job, run_config=request.run_config(), tags=request.run_tags(), status=status,
        remote_job_origin=_origin(),  # a queued run names the code location the daemon launches it from
    )  # fmt: skip
    return run.run_id


def _fail_at(instance: DagsterInstance, user: str, when: datetime) -> str:
    """A run of ``user`` started and failed at ``when`` (Dagster's clock frozen there)."""
    with freeze_time(when):
        run_id = _create(instance, user, DagsterRunStatus.STARTED, dataset="customers")
        instance.report_run_failed(instance.get_run_by_id(run_id), "the worker was lost")
    return run_id


@pytest.fixture
def history(instance, redis_server):
    """Two users' runs in every state; returns the ids of the failures that count, newest first."""
    now = datetime.now(UTC)
    for user, status in [
        ("analyst", DagsterRunStatus.QUEUED), ("analyst", DagsterRunStatus.QUEUED),
        ("analyst", DagsterRunStatus.STARTED), ("admin", DagsterRunStatus.QUEUED),
        ("admin", DagsterRunStatus.STARTING),
        ("admin", DagsterRunStatus.SUCCESS), ("analyst", DagsterRunStatus.CANCELED),
    ]:  # fmt: skip
        _create(instance, user, status)
    # Another job's runs are not exports, whatever their tags say.
    instance.create_run_for_job(
        retention_cleanup_job, status=DagsterRunStatus.STARTED, tags={TAG_USER: "admin"}
    )

    old = _fail_at(instance, "analyst", now - timedelta(hours=25))
    instance.add_run_tags(old, {"export/alerted_by_email": "true"})  # touched today, failed yesterday
    yesterday = _fail_at(instance, "admin", now - timedelta(hours=23))
    refused, _ = run_export(ExportRequest(user="auditor", dataset="orders"), instance)  # no grant on orders
    assert refused.status == "FAILURE" and "PermissionDenied" in refused.error
    return {"refused": refused.run_id, "yesterday": yesterday, "old": old}


def test_status_counts_active_runs_per_user_and_the_last_days_failures(instance, history, redis_server):
    report = status_report(instance, redis_server.url(BROKER_DB))

    assert report["users"] == {"admin": {"running": 1, "queued": 1}, "analyst": {"running": 1, "queued": 2}}
    assert list(report["users"]) == ["admin", "analyst"]
    assert (report["queued_runs"], report["running_runs"]) == (3, 2)
    assert report["failures_24h"] == 2
    refused, yesterday = report["recent_failures"]
    assert [refused["run_id"], yesterday["run_id"]] == [history["refused"], history["yesterday"]]
    assert refused == {
        "run_id": history["refused"], "user": "auditor", "dataset": "orders", "format": "csv",
        "failed_at": refused["failed_at"], "reason": audit_record_for_run(instance, history["refused"]).error,
    }  # fmt: skip
    assert refused["reason"].startswith("validate_request: ") and "PermissionDenied" in refused["reason"]
    assert yesterday["user"] == "admin" and yesterday["dataset"] == "customers"
    assert yesterday["reason"] == audit_record_for_run(instance, history["yesterday"]).error
    assert "the worker was lost" in yesterday["reason"]
    ago = datetime.now(UTC) - datetime.fromisoformat(yesterday["failed_at"])
    assert timedelta(hours=23) <= ago < timedelta(hours=23, minutes=10)
    assert report["broker"] == "reachable" and report["celery_queues"] == {"dagster": 0, "render": 0}


def test_the_window_is_the_24_hours_before_now(instance, history):
    later = status_report(instance, "redis://127.0.0.1:1/0", now=datetime.now(UTC) + timedelta(hours=2))

    assert later["failures_24h"] == 1  # yesterday's failure is 25 hours old two hours from now
    assert [f["run_id"] for f in later["recent_failures"]] == [history["refused"]]
    assert later["broker"].startswith("unreachable") and later["celery_queues"] is None
    assert later["users"]["analyst"] == {"running": 1, "queued": 2}  # still reported without a broker


def test_the_command_prints_per_user_counts_and_failures(instance, history, redis_server, capsys):
    broker = redis_server.url(BROKER_DB)

    assert cli.main(["status", "--broker", broker]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert "celery queues: dagster=0, render=0" in lines
    assert "queued runs: 3, running runs: 2" in lines
    assert lines[lines.index("queued runs: 3, running runs: 2") + 2].split() == ["user", "running", "queued"]
    assert [line.split() for line in lines if line.startswith(("admin ", "analyst "))] == [
        ["admin", "1", "1"], ["analyst", "1", "2"]
    ]  # fmt: skip
    assert "failures in the last 24 hours: 2" in lines
    failures = lines[lines.index("failures in the last 24 hours: 2") + 2 :]
    assert len(failures) == 2 and history["refused"] in failures[0] and history["yesterday"] in failures[1]
    assert failures[0].split()[2:5] == ["auditor", "orders", "csv"] and "PermissionDenied" in failures[0]
    assert "run: " in failures[1] and "the worker was lost" in failures[1]
    assert history["old"] not in "\n".join(lines)

    assert cli.main(["status", "--broker", broker, "--json", "--failures", "1"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["users"] == {"admin": {"running": 1, "queued": 1}, "analyst": {"running": 1, "queued": 2}}
    assert report["failures_24h"] == 2 and [f["run_id"] for f in report["recent_failures"]] == [history["refused"]]
    assert report["celery_queues"] == {"dagster": 0, "render": 0}

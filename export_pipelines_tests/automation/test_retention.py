"""retention_cleanup_job on a folder and on S3: expired files go, unexpired stay, dead runs' staging goes.

Exports run for real (run history, encrypted files); the clean-up runs with a fixed clock days
later instead of waiting. The catalog gives ``customers`` a retention of 1 day over the
deployment's 30, so one clean-up two days on must delete exactly the customers export.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from export_pipelines import cli
from export_pipelines.automation.launch import run_export
from export_pipelines.automation.retention import (
    CLEAN_UP_OP,
    ClockResource,
    daily_retention_cleanup_schedule,
    retention_cleanup_job,
)
from export_pipelines.datasets.catalog import parse_catalog
from export_pipelines.errors import CatalogError
from export_pipelines.observability.audit import TAG_DELETED_AT, audit_record_for_run
from export_pipelines.request.model import TAG_USER, ExportRequest
from export_pipelines.request.plan import staging_prefix
from export_pipelines.run.resources import ExportStorageResource
from export_pipelines_tests.automation.conftest import place_run


class FixedClock(ClockResource):
    """The clean-up's clock, stopped at ``at`` (ISO)."""

    at: str

    def now(self) -> datetime:
        return datetime.fromisoformat(self.at)


@pytest.fixture(params=["local", "s3"])
def deployment(request, sqlite_url, dagster_home, tmp_path, monkeypatch):
    """A deployment on a folder or a bucket, with customers kept 1 day and everything else 30."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EXPORT_RETENTION_DAYS", "30")
    monkeypatch.delenv("SMTP_HOST", raising=False)
    catalog = _packaged_catalog()
    catalog["datasets"]["customers"]["retention_days"] = 1
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    monkeypatch.setenv("EXPORT_CATALOG_PATH", str(tmp_path / "catalog.yaml"))
    if request.param == "local":
        monkeypatch.setenv("EXPORT_STORAGE_URL", str(tmp_path / "store"))
    else:
        server = request.getfixturevalue("s3_env")
        monkeypatch.setenv("EXPORT_STORAGE_URL", f"s3://{server.create_bucket('retention')}/exports")
    return request.param


def _packaged_catalog() -> dict:
    return yaml.safe_load(resources.files("export_pipelines.datasets").joinpath("catalog.yaml").read_text("utf-8"))


def _export(dataset: str):
    record, _ = run_export(ExportRequest(user="admin", dataset=dataset, format="csv"), DagsterInstance.get())
    assert record.status == "SUCCESS", record.error
    return record


def _clean_up(at: datetime, **config) -> dict:
    """Run the clean-up as of ``at``; return its op's output metadata as plain values."""
    result = retention_cleanup_job.execute_in_process(
        run_config={"ops": {CLEAN_UP_OP: {"config": config}}},
        instance=DagsterInstance.get(),
        resources={"clock": FixedClock(at=at.isoformat())},
    )
    assert result.success
    (output,) = [e for e in result.events_for_node(CLEAN_UP_OP) if e.is_successful_output]
    return {name: getattr(value, "value", value) for name, value in output.step_output_data.metadata.items()}


def _bucket() -> str:
    return urlparse(os.environ["EXPORT_STORAGE_URL"]).netloc


def _stored() -> list[str]:
    return [item.key for item in ExportStorageResource().get().list()]


def test_expired_exports_are_deleted_and_unexpired_ones_kept_with_the_dataset_override(deployment):
    orders, customers = _export("orders"), _export("customers")
    now = datetime.now(UTC)
    assert abs(datetime.fromisoformat(customers.expires_at) - (now + timedelta(days=1))) < timedelta(minutes=5)
    assert abs(datetime.fromisoformat(orders.expires_at) - (now + timedelta(days=30))) < timedelta(minutes=5)

    report = _clean_up(now + timedelta(days=2))

    assert report["expired_files"] == 1 and report["expired_keys"] == [customers.file_key]
    assert report["expired_bytes"] > customers.bytes  # stored bytes: ciphertext, a little larger
    assert report["dry_run"] is False
    assert _stored() == [orders.file_key]
    instance = DagsterInstance.get()
    deleted_at = instance.get_run_by_id(customers.run_id).tags[TAG_DELETED_AT]
    assert deleted_at == (now + timedelta(days=2)).isoformat()
    assert TAG_DELETED_AT not in instance.get_run_by_id(orders.run_id).tags
    assert audit_record_for_run(instance, customers.run_id).deleted_at == deleted_at
    assert audit_record_for_run(instance, customers.run_id).file_key == customers.file_key  # history is kept

    report = _clean_up(now + timedelta(days=31))

    assert report["expired_keys"] == [orders.file_key] and _stored() == []
    assert _clean_up(now + timedelta(days=32))["expired_files"] == 0


def test_a_dry_run_reports_what_it_would_delete_and_deletes_nothing(deployment):
    orders = _export("orders")
    before = _stored()

    report = _clean_up(datetime.now(UTC) + timedelta(days=31), dry_run=True)

    assert report["dry_run"] is True and report["expired_keys"] == [orders.file_key]
    assert _stored() == before == [orders.file_key]
    assert TAG_DELETED_AT not in DagsterInstance.get().get_run_by_id(orders.run_id).tags


def _stage(run_id: str) -> str:
    storage = ExportStorageResource().get()
    for name in ("data/chunk-00000", "outputs/collect_chunks/result"):
        with storage.open_write(f"{staging_prefix(run_id)}/{name}", checksum=False) as target:
            target.write(b"staged bytes")
    return staging_prefix(run_id)


def test_staging_of_ended_runs_is_removed_and_staging_of_live_runs_kept(deployment):
    instance = DagsterInstance.get()
    tags = {TAG_USER: "admin"}
    ended = {
        status: place_run(instance, DagsterRunStatus(status), tags) for status in ("FAILURE", "SUCCESS", "CANCELED")
    }
    running = place_run(instance, DagsterRunStatus.STARTED, tags)
    queued = place_run(instance, DagsterRunStatus.QUEUED, tags)
    unknown = "0b5a2f0e-0000-4000-8000-000000000000"
    for run_id in [*ended.values(), running, queued, unknown]:
        _stage(run_id)
    now = datetime.now(UTC)

    dry = _clean_up(now, dry_run=True)
    report = _clean_up(now)

    gone = sorted(staging_prefix(run_id) for run_id in ended.values())
    assert dry["staging_prefixes"] == report["staging_prefixes"] == gone
    assert report["staging_files"] == 6 and report["staging_bytes"] > 6 * len(b"staged bytes")
    left = {key.split("/")[1] for key in _stored()}
    assert left == {running, queued, unknown}  # the unknown run's staging is newer than the grace period

    report = _clean_up(now + timedelta(hours=25))

    assert report["staging_prefixes"] == [staging_prefix(unknown)]
    assert {key.split("/")[1] for key in _stored()} == {running, queued}


def test_staging_of_a_failed_run_is_kept_while_its_retry_may_read_it(deployment):
    """A retry from failure reads the steps its parent finished from the parent's staging."""
    from dagster import DagsterRun
    from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, PARENT_RUN_ID_TAG, ROOT_RUN_ID_TAG, WILL_RETRY_TAG

    instance = DagsterInstance.get()
    failed = place_run(instance, DagsterRunStatus.FAILURE, {TAG_USER: "admin", WILL_RETRY_TAG: "true"})
    _stage(failed)

    assert _clean_up(datetime.now(UTC))["staging_prefixes"] == []  # the daemon has yet to launch the retry

    parent = instance.get_run_by_id(failed)
    retry = DagsterRun(
        job_name="export_job", run_id="1c0ffee0-0000-4000-8000-000000000000", status=DagsterRunStatus.STARTED,
        parent_run_id=failed, root_run_id=failed, remote_job_origin=parent.remote_job_origin,
        tags={TAG_USER: "admin", PARENT_RUN_ID_TAG: failed, ROOT_RUN_ID_TAG: failed},
    )  # fmt: skip
    instance.add_run(retry)
    instance.add_run_tags(failed, {AUTO_RETRY_RUN_ID_TAG: retry.run_id})

    assert _clean_up(datetime.now(UTC))["staging_prefixes"] == []

    instance.report_run_failed(instance.get_run_by_id(retry.run_id))
    assert _clean_up(datetime.now(UTC))["staging_prefixes"] == [staging_prefix(failed)]


def test_the_audit_command_says_where_each_file_is_and_when_it_was_deleted(deployment, capsys):
    orders = _export("orders")
    where = ExportStorageResource().backend().location(orders.file_key)
    if deployment == "s3":
        assert where == f"s3://{_bucket()}/exports/{orders.file_key}"
    else:
        assert Path(where).is_file() and where.endswith(orders.file_key)

    assert cli.main(["audit", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["location"] == record["file"] == where and record["deleted_at"] is None
    assert cli.main(["audit"]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith(f"  {where}")

    _clean_up(datetime(2099, 1, 31, 3, 0, tzinfo=UTC))

    assert cli.main(["audit"]) == 0
    table = capsys.readouterr().out
    assert f"  {where} (deleted on 2099-01-31)" in table
    assert cli.main(["audit", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["deleted_at"] == "2099-01-31T03:00:00+00:00" and record["link"] is None
    assert record["file"] == "deleted on 2099-01-31" and record["location"] == where  # history keeps where it was


def test_retention_days_in_the_catalog_must_be_a_positive_whole_number():
    document = _packaged_catalog()
    assert parse_catalog(document).dataset("orders").retention_days is None  # the deployment's default applies

    for wrong in (0, -3, 1.5, "7", True):
        document["datasets"]["orders"]["retention_days"] = wrong
        with pytest.raises(CatalogError, match=r"datasets\.orders\.retention_days: .* a whole number of days"):
            parse_catalog(document)
    document["datasets"]["orders"]["retention_days"] = 7
    assert parse_catalog(document).dataset("orders").retention_days == 7


def test_the_clean_up_runs_daily_at_three_utc_from_the_code_location():
    from export_pipelines.definitions import defs

    assert defs.get_job_def("retention_cleanup_job") is not None
    schedule = defs.get_schedule_def("daily_retention_cleanup_schedule")
    assert schedule.cron_schedule == daily_retention_cleanup_schedule.cron_schedule == "0 3 * * *"
    assert schedule.execution_timezone == "UTC" and schedule.job_name == "retention_cleanup_job"
    assert ClockResource().now().tzinfo is not None

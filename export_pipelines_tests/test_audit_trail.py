"""The audit trail outlives an operator's mistake: a deleted run keeps its file's record and its downloads,
and ``audit --downloads`` reads past records the download service did not write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

CLI = str(Path(sys.executable).with_name("export-pipelines"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A data folder with 300 seeded orders, its own Dagster home, and one finished export."""
    root = tmp_path_factory.mktemp("trail")
    env = {**os.environ, "EXPORT_DATA_DIR": str(root / "var"), "DAGSTER_HOME": str(root / "home")}
    for name in ("EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_LINK_SIGNING_KEYS",
                 "EXPORT_PUBLIC_URL", "EXPORT_DOWNLOAD_REQUIRE_LOGIN", "EXPORT_ENCRYPTION_KEYSET"):  # fmt: skip
        env.pop(name, None)
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert cli(env, "seed-demo", "--rows", "300").returncode == 0
    return env


def cli(env, *args):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def instance(workspace, monkeypatch):
    from dagster import DagsterInstance

    for name, value in workspace.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.get() as instance:
        yield instance


def test_a_deleted_run_keeps_its_files_record_and_its_downloads(workspace, instance):
    from export_pipelines.service.app import create_app
    from export_pipelines_tests.delivery.conftest import start_server

    done = cli(workspace, "export", "--user", "analyst", "--dataset", "orders", "--format", "csv", "--json")
    assert done.returncode == 0, done.stderr
    exported = json.loads(done.stdout)
    server = start_server(create_app(instance=instance))
    try:
        token = exported["link"].rsplit("/", 1)[1]
        assert requests.get(f"{server.url}/d/{token}/file", timeout=30).status_code == 200
    finally:
        server.stop()
    before = next(r for r in json.loads(cli(workspace, "audit", "--json").stdout) if r["run_id"] == exported["run_id"])

    instance.delete_run(exported["run_id"])  # what the webserver's deleteRun does

    audited = cli(workspace, "audit", "--json")
    assert audited.returncode == 0, audited.stderr
    [kept] = [r for r in json.loads(audited.stdout) if r["run_id"] == exported["run_id"]]
    assert kept["status"] == "RUN_DELETED" and "deleted" in kept["error"]
    for field in ("user", "dataset", "format", "rows", "bytes", "file_key", "sha256", "location", "expires_at"):
        assert kept[field] == before[field] is not None, field
    assert exported["run_id"] in cli(workspace, "audit").stdout
    downloads = json.loads(cli(workspace, "audit", "--downloads", "--run", exported["run_id"], "--json").stdout)
    assert [(d["status"], d["outcome"], d["owner"]) for d in downloads] == [(200, "complete", "analyst")]


@pytest.mark.parametrize("metadata", [
    {"status": "forged"},
    {"at": "2026-01-01T00:00:00+00:00", "status": "200", "outcome": "complete", "what": "file", "bytes_sent": "x"},
    {"at": "2026-01-01T00:00:00+00:00", "status": 200, "outcome": 7, "what": "file"},
])  # fmt: skip
def test_audit_downloads_skips_records_it_did_not_write(workspace, instance, metadata):
    from dagster import AssetObservation

    from export_pipelines.delivery.download_log import DOWNLOADS_ASSET, DownloadAttempt, record_attempt

    genuine = DownloadAttempt(at="2026-01-02T00:00:00+00:00", status=404, outcome="unknown", what="page")
    record_attempt(instance, genuine)
    instance.report_runless_asset_event(AssetObservation(asset_key=DOWNLOADS_ASSET, metadata=metadata))

    listed = cli(workspace, "audit", "--downloads", "--json")
    printed = cli(workspace, "audit", "--downloads")

    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert genuine.as_dict() in json.loads(listed.stdout)
    assert printed.returncode == 0 and "did not write" in printed.stderr, printed.stderr

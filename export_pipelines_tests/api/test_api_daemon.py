"""End to end: an export submitted to the API is queued through the gate, launched by a real Dagster daemon
(`dagster dev`), followed over the WebSocket and downloaded, by the example client, from PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from dagster import DagsterInstance

from export_pipelines_tests.api.conftest import Application
from export_pipelines_tests.automation.dagster_dev import PROJECT, DagsterDev
from export_pipelines_tests.delivery.conftest import start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # dagster dev starts in the first test


@pytest.fixture(scope="module")
def deployment(postgres_source, tmp_path_factory):
    from export_pipelines.service.app import create_app

    work = tmp_path_factory.mktemp("api-daemon")
    app = Application()
    (work / "app.pem").write_bytes(app.public_pem)
    env = {"EXPORT_SOURCE_DB_URL": postgres_source, "EXPORT_DATA_DIR": str(work / "var"),
           "EXPORT_APP_JWT_PUBLIC_KEY": str(work / "app.pem")}  # fmt: skip
    dev = DagsterDev(work, env)
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)  # the service reads and writes the same instance, source and files
        dev.start(seconds=300)
        environ = dict(os.environ)
        server = start_server(create_app(instance=DagsterInstance.get(), environ=environ))
        environ["EXPORT_PUBLIC_URL"] = server.url  # the URLs the API answers are built on it
        try:
            yield dev, app, server, work
        finally:
            server.stop()
            dev.stop()


def test_the_daemon_launches_an_api_export_that_the_example_client_follows_and_downloads(deployment):
    dev, app, server, work = deployment
    out = work / "orders.csv"
    client = subprocess.run(
        [sys.executable, str(PROJECT / "examples" / "api_client.py"), "--api", f"{server.url}/api/v1",
         "--token", app.token("analyst"), "--dataset", "orders", "--columns", "order_id,tenant_id,amount",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert client.returncode == 0, client.stdout + client.stderr + dev.log_tail()
    export_id = client.stdout.split()[1].rstrip(":")
    printed = client.stdout.splitlines()
    assert any(line.split()[:1] == ["started"] for line in printed) and "succeeded" in client.stdout
    with httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {app.token('analyst')}"}
    ) as api:
        shown = api.get(f"/exports/{export_id}").json()
    assert shown["status"] == "succeeded" and shown["submitted_via"] == "api" and shown["rows_withheld"] is True
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == shown["rows"] + 1 and lines[0].replace('"', "") == "Order ID,Tenant,Amount"
    assert {line.split(",")[1].strip('"') for line in lines[1:]} == {"acme", "globex"}  # analyst's tenants only
    assert f"{shown['bytes']:,} bytes" in client.stdout

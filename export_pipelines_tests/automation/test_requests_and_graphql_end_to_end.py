"""Request rows and GraphQL submissions through a real webserver and daemon (`dagster dev`, the project's dagster.yaml).

Signatures are required (as a deployment has it): examples/submit_export.py signs with the
application's key. The source is a small seeded SQLite database. (The per-user running limit is observed
exactly, with exports that wait for the test, in test_sealed_runs_end_to_end.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from dagster import DagsterInstance, RunsFilter

from export_pipelines.automation.request_status import TAG_REQUEST_ID
from export_pipelines.automation.request_table import FAILED, NEW, SUCCEEDED, RequestTable, export_requests
from export_pipelines.demo.seed import seed_demo
from export_pipelines.request.model import TAG_USER
from export_pipelines_tests.automation.conftest import Application
from export_pipelines_tests.automation.dagster_dev import PROJECT, DagsterDev

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

ROWS = 2_000


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{work / 'source.sqlite'}"
    seed_demo(url, rows=ROWS)
    RequestTable(url).create()
    application = Application(ed25519.Ed25519PrivateKey.generate())
    (work / "app.pub.pem").write_bytes(application.public_pem)
    env = {"EXPORT_SOURCE_DB_URL": url, "EXPORT_DATA_DIR": str(work / "var"),
           "EXPORT_REQUEST_TOKEN_PUBLIC_KEY": str(work / "app.pub.pem")}  # fmt: skip
    dev = DagsterDev(work, env, lambda config: config["run_coordinator"]["config"].update(
        trust_unsigned_submissions=False))  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in dev.env.items():
            patch.setenv(name, value)  # this process reads the same instance, table and files back
        patch.delenv("EXPORT_STORAGE_URL", raising=False)
        dev.start()
        try:
            yield dev, application, RequestTable(url)
        finally:
            dev.stop()


def _settled(dev: DagsterDev, table: RequestTable, ids: list[int], seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = {row.id: row for row in table.all() if row.id in ids}
        if all(row.status in (SUCCEEDED, FAILED) for row in rows.values()):
            return rows
        time.sleep(1)
    raise AssertionError(f"rows did not settle within {seconds} s: {[(r.id, r.status) for r in table.all()]}; "
                         f"dagster dev said:\n{dev.log_tail()}")


def _runs_for(request_id: int) -> list:
    return DagsterInstance.get().get_runs(RunsFilter(job_name="export_job", tags={TAG_REQUEST_ID: str(request_id)}))


def test_the_example_prints_the_result_or_the_failure(deployment, tmp_path):
    dev, application, _ = deployment
    (tmp_path / "app.pem").write_bytes(application.private_pem)
    command = [sys.executable, str(PROJECT / "examples" / "submit_export.py"), "--port", str(dev.port),
               "--private-key", str(tmp_path / "app.pem"), "--user", "analyst"]  # fmt: skip

    good = subprocess.run([*command, "--dataset", "customers", "--format", "jsonl"], capture_output=True, text=True,
                          timeout=300, cwd=PROJECT)  # fmt: skip
    refused = subprocess.run([*command, "--dataset", "payroll"], capture_output=True, text=True, timeout=300,
                             cwd=PROJECT)  # fmt: skip

    assert good.returncode == 0, good.stderr
    assert " rows in files/" in good.stdout and "/d/" in good.stdout
    assert refused.returncode == 1 and "unknown dataset 'payroll'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_request_rows_become_exports_and_each_is_launched_once_through_a_cursor_reset_and_a_restart(deployment):
    dev, _, table = deployment
    ids = [table.insert("analyst", {"dataset": "orders", "format": "csv", "title": "from a row"}),
           table.insert("admin", {"dataset": "customers", "format": "jsonl"}),
           table.insert("analyst", {"dataset": "payroll"})]  # fmt: skip

    rows = _settled(dev, table, ids)

    for request_id in ids[:2]:
        row = rows[request_id]
        assert row.status == SUCCEEDED and row.rows > 0 and row.file_key.startswith("files/") and "/d/" in row.link
    assert rows[ids[2]].status == FAILED and "payroll" in rows[ids[2]].reason

    # Lose everything the sensors know: the row's status and the cursor; then restart the daemon.
    with table.engine.begin() as connection:
        connection.execute(export_requests.update().where(export_requests.c.id == ids[0]).values(status=NEW))
    dev.stop()
    dagster = Path(sys.executable).with_name("dagster")
    subprocess.run([str(dagster), "sensor", "cursor", "export_request_sensor", "--delete", "-w",
                    str(dev.work / "workspace.yaml")], check=True, capture_output=True, timeout=120, cwd=dev.work,
                   input="y\n", text=True)  # fmt: skip
    dev.start()

    rows = _settled(dev, table, ids)
    dev.wait_for_sensor_ticks("export_request_sensor", after=time.time(), count=2)  # two more evaluations

    assert [len(_runs_for(request_id)) for request_id in ids] == [1, 1, 0]  # an invalid request makes no run
    assert table.get(ids[0]).status == SUCCEEDED and table.get(ids[0]).run_id == _runs_for(ids[0])[0].run_id
    assert {run.tags[TAG_USER] for run in _runs_for(ids[1])} == {"admin"}

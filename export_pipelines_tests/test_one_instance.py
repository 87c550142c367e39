"""One history for a newcomer: ``make demo``, then the README's commands typed in a shell, see the same runs.

The project's Makefile, dagster.yaml and installed virtualenv are linked into a temporary project folder
(links, so make finds its prerequisites made and installs nothing), the data folder is seeded small, and
``make demo`` runs there with no DAGSTER_HOME or EXPORT_DATA_DIR of its own. Then ``export-pipelines link``
and ``serve`` run in that folder as a shell without make's variables runs them, and must find the demo's
run; every file of the instance must be private to its account.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from export_pipelines_tests.services import free_port, port_open, unavailable

PROJECT = Path(__file__).resolve().parents[1]
UNSET = ("DAGSTER_HOME", "EXPORT_DATA_DIR", "EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL", "EXPORT_CATALOG_PATH",
         "SMTP_HOST", "EXPORT_LINK_SIGNING_KEYS", "EXPORT_PUBLIC_URL", "EXPORT_DOWNLOAD_REQUIRE_LOGIN",
         "EXPORT_ENCRYPTION_KEYSET", "MAKEFLAGS", "MFLAGS")  # fmt: skip


@pytest.fixture
def project(tmp_path):
    if shutil.which("make") is None:
        unavailable("make", "no make on PATH (install the make package)")
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("Makefile", "dagster.yaml", "workspace.yaml", ".venv", "requirements.lock", "pyproject.toml",
                 "setup.py"):  # fmt: skip
        (folder / name).symlink_to(PROJECT / name)
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    cli = str(PROJECT / ".venv" / "bin" / "export-pipelines")
    seeded = subprocess.run([cli, "seed-demo", "--rows", "300"], cwd=folder, env=env, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    return folder, env, cli


def test_make_demo_then_link_and_serve_from_a_shell_find_the_same_run(project):
    folder, env, cli = project

    demo = subprocess.run(["make", "--no-print-directory", "demo"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    audited = subprocess.run([cli, "audit", "--json"], cwd=folder, env=env, capture_output=True, text=True)
    assert audited.returncode == 0, audited.stderr
    [record] = json.loads(audited.stdout)
    linked = subprocess.run([cli, "link", record["run_id"]], cwd=folder, env=env, capture_output=True, text=True)
    assert linked.returncode == 0, linked.stderr
    url = linked.stdout.splitlines()[0]

    port = free_port()
    server = subprocess.Popen([cli, "serve", "--port", str(port)], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        served = requests.get(f"http://127.0.0.1:{port}{urlsplit(url).path}/file", timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert served.status_code == 200 and served.content == (folder / "var" / "demo-orders.csv").read_bytes()
    home = folder / "var" / "dagster_home"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    databases = list(home.rglob("*.db"))
    assert databases and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in databases), {
        str(p.relative_to(home)): oct(stat.S_IMODE(p.stat().st_mode)) for p in databases
    }
    assert not (folder / ".dagster_home").exists()

"""`make dev` as a newcomer runs it: the Makefile's own command line starts, and says nothing they cannot act on.

The command is read from the Makefile (``make -n dev``), with this test's Dagster home and data
folder, and run where make runs it, the project folder; only a free port is added.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from export_pipelines_tests.services import free_port, port_open, unavailable

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

PROJECT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("export-pipelines"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Python's warnings (UserWarning, DeprecationWarning, Dagster's SupersessionWarning, BetaWarning...) and
# Dagster's log lines at WARNING level.
WARNINGS = re.compile(r"\w*Warning\b| - WARNING - ")
# On its first start on an instance, Dagster's daemon notes that it reads run events from then on. Nothing
# to act on, and never said again on that instance; a new home is the newcomer's first `make dev`.
FIRST_START = re.compile(r"EventLogConsumerDaemon - WARNING - No cursor for event type \S+, ignoring older events$")
FIRST_START_IN_LOG = re.compile(FIRST_START.pattern.removesuffix("$"), re.MULTILINE)
TICKS_QUERY = """{ sensorOrError(sensorSelector: {repositoryLocationName: "export_pipelines",
  repositoryName: "__repository__", sensorName: "export_request_sensor"}) {
  ... on Sensor { sensorState { ticks(limit: 5) { status } } } } }"""
WORKSPACE_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { __typename } } } } }"


def make_dev_command(home: Path, data: Path) -> str:
    """The command `make dev` runs once its prerequisites are made (make -n prints and runs nothing)."""
    if shutil.which("make") is None:
        unavailable("make", "no make on PATH (install the make package)")
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", "dev", f"DAGSTER_HOME={home}", f"EXPORT_DATA_DIR={data}"],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    [command] = [line for line in printed if re.search(r"\bdagster dev\b", line)]
    return command


@pytest.fixture
def newcomer(tmp_path):
    """A new Dagster home with the project's dagster.yaml, and a seeded data folder: what make's prerequisites make."""
    home, data = tmp_path / "dagster_home", tmp_path / "var"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "EXPORT_DATA_DIR": str(data)}  # what the Makefile exports
    for name in ("EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL", "EXPORT_CATALOG_PATH", "SMTP_HOST", "PYTHONWARNINGS"):
        env.pop(name, None)
    seeded = subprocess.run([CLI, "seed-demo", "--rows", "200"], env=env, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    return home, data, env


def test_make_dev_starts_without_warnings(newcomer, tmp_path):
    home, data, env = newcomer
    port = free_port()
    command = f"{make_dev_command(home, data)} -h 127.0.0.1 -p {port}"
    log = tmp_path / "make-dev.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (port_open("127.0.0.1", port) and "Serving dagster-webserver" in log.read_text(errors="replace")):
            assert process.poll() is None, f"make dev exited during start-up:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"make dev did not start within 240 s:\n{log.read_text()}"
            time.sleep(0.5)
        [location] = _graphql(port, WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]  # as the UI opens
        assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
        # Evidence of the daemons' first rounds, where first-start notes are written: the event log
        # consumer's note, and a finished evaluation of a sensor that is on by default.
        while not (FIRST_START_IN_LOG.search(ANSI.sub("", log.read_text(errors="replace"))) and _sensor_ticked(port)):
            assert time.monotonic() < deadline, f"the daemon did no round within 240 s:\n{log.read_text()}"
            time.sleep(0.5)
        # What start-up said; stopping is not starting (Dagster may note a code server exiting as it stops).
        started = log.read_text(errors="replace")
    finally:
        _stop(process)

    lines = [ANSI.sub("", line).rstrip() for line in started.splitlines()]
    unexpected = [
        line for line in lines
        if (WARNINGS.search(line) and not FIRST_START.search(line)) or "dagster.yaml" in line
    ]  # fmt: skip
    assert not unexpected, "\n".join(unexpected)


def _sensor_ticked(port: int) -> bool:
    ticks = _graphql(port, TICKS_QUERY)["sensorOrError"].get("sensorState", {}).get("ticks", [])
    return any(tick["status"] != "STARTED" for tick in ticks)


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["data"]


def _stop(process: subprocess.Popen) -> None:
    """The whole session: the shell, dagster dev and the webserver, daemon and code server it started."""
    os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(process) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _alive(process):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _alive(process: subprocess.Popen) -> bool:
    process.poll()  # reaps the shell, which would otherwise keep the group alive
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True

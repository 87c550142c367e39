"""`dagster dev` (webserver + daemon), or dagster-webserver alone, on a free port for end-to-end tests.

Stoppable and restartable on one home. What it prints goes to ``work/dagster-dev.log``, whose last
lines every wait here puts in its failure message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from dagster_graphql import DagsterGraphQLClient

from export_pipelines_tests.services import free_port, port_open

PROJECT = Path(__file__).resolve().parents[2]
# Unset unless the test sets them: the deployment is the one the test describes, not the shell's.
CLEARED = ("SMTP_HOST", "EXPORT_SOURCE_DB_URL", "EXPORT_STORAGE_URL", "EXPORT_TRUST_UNSIGNED_SUBMISSIONS",
           "EXPORT_CATALOG_PATH", "EXPORT_SUBSCRIPTIONS_PATH")  # fmt: skip
T = TypeVar("T")
SENSOR_TICKS_QUERY = """query SensorTicks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 20) { timestamp status } } }
  }
}"""


class DagsterDev:
    """The project's dagster.yaml (changed by ``configure``) and workspace.yaml (plus ``locations``), in ``work``.

    ``env`` is set for its processes (and ``DAGSTER_HOME``, the home in ``work``); ``webserver_only``
    runs dagster-webserver without the daemon, so nothing is dequeued, retried or ticked; ``read_only`` runs it
    with ``--read-only`` (the viewers' webserver of deploy/webservers); ``daemon_apart`` runs dagster-webserver
    and dagster-daemon as two processes, as a deployment does.
    """

    def __init__(
        self,
        work: Path,
        env: dict[str, str],
        configure: Callable[[dict], None] | None = None,
        *,
        locations: Iterable[dict] = (),
        webserver_only: bool = False,
        read_only: bool = False,
        daemon_apart: bool = False,
    ):
        self.work, self.home = work, work / "dagster_home"
        self.env = {**env, "DAGSTER_HOME": str(self.home)}
        self.command = ["dagster-webserver"] if webserver_only or read_only or daemon_apart else ["dagster", "dev"]
        self.daemon_apart, self.daemon = daemon_apart, None
        self.command += ["--read-only"] if read_only else []
        self.name = " ".join(self.command)
        self.home.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
        if configure:
            configure(config)
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        workspace = yaml.safe_load((PROJECT / "workspace.yaml").read_text())
        workspace["load_from"] += list(locations)  # each a load_from entry: {"python_module": {...}}
        (work / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        self.process = None
        self.port = None

    @property
    def environment(self) -> dict[str, str]:
        """What its processes run with, and what a command on the same instance needs: ``env`` over this one's."""
        environment = {**os.environ, **self.env}
        for name in CLEARED:
            if name not in self.env:
                environment.pop(name, None)
        return environment

    def share_with(self, patch: pytest.MonkeyPatch) -> None:
        """Gives this process the same environment, to read back the instance, source and files it writes."""
        for name, value in self.env.items():
            patch.setenv(name, value)
        for name in CLEARED:
            if name not in self.env:
                patch.delenv(name, raising=False)

    @property
    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    def start(self, seconds: float = 180) -> None:
        """Starts it on a free port; returns once GraphQL answers, else stops it and fails."""
        self.port = free_port()
        executable = Path(sys.executable).with_name(self.command[0])
        with open(self.log, "ab") as log:  # kept for failure messages: what the daemon said about its ticks
            self.process = subprocess.Popen(
                [str(executable), *self.command[1:], "-w", str(self.work / "workspace.yaml"),
                 "-h", "127.0.0.1", "-p", str(self.port)],
                cwd=self.work, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            if self.daemon_apart:  # as a deployment runs it: its own process beside the webserver
                self.daemon = subprocess.Popen(
                    [str(executable.with_name("dagster-daemon")), "run", "-w", str(self.work / "workspace.yaml")],
                    cwd=self.work, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        try:
            self.wait_ready(seconds)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, seconds: float = 180) -> None:
        """Waits until the port is open and the GraphQL endpoint answers a query."""
        self.wait_until(self._answers, seconds, f"{self.name} to answer GraphQL on port {self.port}")

    def _answers(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        try:
            return bool(self.graphql("{ version }", timeout=10)["version"])
        except (OSError, ValueError):  # refused, reset, timed out, or not yet JSON
            return False

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        """The ``data`` of the answer to ``query``, posted to /graphql as the UI posts it; an error fails the test."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:  # a PythonError in the data comes with status 500: still an answer
            try:
                answer = json.loads(error.read())
            except ValueError:  # not GraphQL's answer (still starting, say): the HTTP error as it was
                raise error from None
        assert "errors" not in answer, answer
        return answer["data"]

    def wait_until(self, check: Callable[[], T], seconds: float, what: str, interval: float = 0.5) -> T:
        """The first true value of ``check()``, tried every ``interval`` s; fails with the log's tail if it
        does not come within ``seconds`` or the server exits."""
        deadline = time.monotonic() + seconds
        while not (value := check()):
            exited = any(p is not None and p.poll() is not None for p in (self.process, self.daemon))
            assert not exited, f"{self.name} exited while waiting for {what}; it said:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"waited {seconds:g} s for {what}; {self.name} said:\n{self.log_tail()}"
            time.sleep(interval)
        return value

    def wait_for_run(self, run_id: str, statuses: Collection[str], seconds: float = 180, interval: float = 0.5) -> str:
        """The run's status (as the GraphQL client names it) once it is one of ``statuses``."""

        def reached() -> str | None:
            status = self.client.get_run_status(run_id).value
            return status if status in statuses else None

        return self.wait_until(reached, seconds, f"run {run_id} to reach {sorted(statuses)}", interval)

    def sensor_ticks(self, sensor: str, location: str = "export_pipelines") -> list[tuple[float, str]]:
        """The sensor's recent ticks as the daemon recorded them: (start time, status), newest first."""
        selector = {"repositoryLocationName": location, "repositoryName": "__repository__", "sensorName": sensor}
        data = self.graphql(SENSOR_TICKS_QUERY, {"selector": selector})["sensorOrError"]
        assert data["__typename"] == "Sensor", data
        return [(tick["timestamp"], tick["status"]) for tick in data["sensorState"]["ticks"]]

    def wait_for_sensor_ticks(self, sensor: str, after: float, count: int = 1, seconds: float = 180) -> None:
        """Waits until the daemon has finished ``count`` evaluations of ``sensor`` begun after ``after`` (epoch
        seconds): the evidence that it did its rounds, for a test that then asserts what they did not do."""

        def done() -> bool:
            return sum(at > after and status != "STARTED" for at, status in self.sensor_ticks(sensor)) >= count

        self.wait_until(done, seconds, f"{count} tick(s) of {sensor} after {after:.0f}", interval=1)

    @property
    def log(self) -> Path:
        return self.work / "dagster-dev.log"

    def log_tail(self, lines: int = 60) -> str:
        """The last lines it printed (webserver and daemon), for an assertion's message."""
        if not self.log.exists():
            return "(no output)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for process in (self.process, self.daemon):
            if process is None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.process = self.daemon = None

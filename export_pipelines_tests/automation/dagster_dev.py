"""`dagster dev` (webserver + daemon) on a free port for end-to-end tests, stoppable and restartable on one home."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dagster_graphql import DagsterGraphQLClient

from export_pipelines_tests.services import free_port, port_open

PROJECT = Path(__file__).resolve().parents[2]
CLEARED = ("SMTP_HOST", "EXPORT_STORAGE_URL", "EXPORT_TRUST_UNSIGNED_SUBMISSIONS", "EXPORT_CATALOG_PATH",
           "EXPORT_SUBSCRIPTIONS_PATH")  # fmt: skip


class DagsterDev:
    """The project's dagster.yaml (changed by ``configure``) and code location, in ``work``, with ``env`` set."""

    def __init__(self, work: Path, env: dict[str, str], configure=None):
        self.work, self.env = work, env
        self.home = work / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
        if configure:
            configure(config)
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        workspace = {"load_from": [{"python_module": {"module_name": "export_pipelines.definitions",
                                                      "location_name": "export_pipelines"}}]}  # fmt: skip
        (work / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        self.env["DAGSTER_HOME"] = str(self.home)
        self.process = None
        self.port = None

    @property
    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    def start(self, seconds: float = 180) -> None:
        self.port = free_port()
        environment = {**os.environ, **self.env}
        for name in CLEARED:
            if name not in self.env:
                environment.pop(name, None)
        dagster = Path(sys.executable).with_name("dagster")
        with open(self.log, "ab") as log:  # kept for failure messages: what the daemon said about its ticks
            self.process = subprocess.Popen(
                [str(dagster), "dev", "-w", str(self.work / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(self.port)],
                cwd=self.work, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + seconds
        while not port_open("127.0.0.1", self.port):
            assert self.process.poll() is None, "dagster dev exited during start-up"
            assert time.monotonic() < deadline, f"dagster dev did not start within {seconds:.0f} s"
            time.sleep(0.5)

    @property
    def log(self) -> Path:
        return self.work / "dagster-dev.log"

    def log_tail(self, lines: int = 60) -> str:
        """The last lines dagster dev printed (webserver and daemon), for an assertion's message."""
        if not self.log.exists():
            return "(no output)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

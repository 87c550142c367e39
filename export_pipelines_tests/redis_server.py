"""A Redis server of the test's own: started on a free port, restartable, stopped at the end.

The suite starts its own so it can restart it (a broker outage between runs) without touching
the machine's Redis. Without a redis-server binary the tests skip loudly, or fail in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from export_pipelines_tests.services import free_port, port_open, unavailable


@dataclass
class RedisServer:
    """A redis-server process on 127.0.0.1:port; keeping nothing on disk, or, given ``data_dir``, an
    append-only file synced on every write, as a broker that must survive a restart is configured."""

    binary: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    data_dir: Path | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.data_dir is None:
            command += ["--appendonly", "no"]
        else:
            command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.data_dir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def persistent_redis_server(tmp_path_factory):
    """A Redis of its own that keeps its data across restarts (append-only file)."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("Redis", "no redis-server on PATH (install the redis-server package)")
    server = RedisServer(binary, data_dir=tmp_path_factory.mktemp("redis_data"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server():
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("Redis", "no redis-server on PATH (install the redis-server package)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()

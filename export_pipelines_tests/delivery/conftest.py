"""A deployment for the download service: seeded source, real exports, uvicorn on a loopback port.

One module-scoped world per test module: a data folder, a Dagster home, 32,000 seeded orders (so the
full export is a >3 MiB file, four 1 MiB segments), a small filtered export with withheld rows and a
large one. The service runs in a thread of the test process with an injected clock and a storage that
records every call, so tests can move time and see what a request touched.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from export_pipelines.demo.seed import seed_demo
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.services import free_port

CLI = str(Path(sys.executable).with_name("export-pipelines"))
BIG_ROWS = 32_000


class Clock:
    """The service's notion of now: real time unless a test sets it."""

    def __init__(self):
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)


class SpyStorage:
    """The real encrypted storage, noting the name of every method the service calls on it."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name):
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def called(*args, **kwargs):
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return called


@dataclass
class Server:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(app) -> Server:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    return Server(f"http://127.0.0.1:{port}", server, thread)


@dataclass
class World:
    env: dict
    small: object  # AuditRecord of a filtered export with withheld rows
    big: object  # AuditRecord of a >3 MiB export
    clock: Clock
    storage: SpyStorage
    server: Server

    def plaintext(self, record) -> bytes:
        with self.storage.inner.open_read(record.file_key) as source:
            return source.read()

    def link(self, record, **options):
        from export_pipelines.delivery.links import mint_link

        expires = datetime.fromisoformat(record.expires_at)
        return mint_link(run_id=record.run_id, file_key=record.file_key, owner=record.user, file_expires_at=expires,
                         **options)  # fmt: skip

    def cli(self, *args):
        return subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True, timeout=300)

    def export(self, **fields):
        from dagster import DagsterInstance

        from export_pipelines.automation.launch import run_export

        record, _ = run_export(ExportRequest(**fields), DagsterInstance.get(), "CRITICAL")
        assert record.status == "SUCCESS", record.error
        return record


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from export_pipelines.run.resources import ExportStorageResource
    from export_pipelines.service.app import create_app

    root = tmp_path_factory.mktemp("delivery")
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    url = f"sqlite:///{root / 'source.sqlite'}"
    seed_demo(url, rows=BIG_ROWS)
    settings = {"EXPORT_DATA_DIR": str(root / "var"), "DAGSTER_HOME": str(root / "home"), "EXPORT_SOURCE_DB_URL": url}
    with pytest.MonkeyPatch.context() as patch:
        for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_LINK_SIGNING_KEYS", "EXPORT_LINK_TTL",
                     "EXPORT_PUBLIC_URL", "EXPORT_DOWNLOAD_REQUIRE_LOGIN", "EXPORT_ENCRYPTION_KEYSET"):  # fmt: skip
            patch.delenv(name, raising=False)
        for name, value in settings.items():
            patch.setenv(name, value)
        world = World(dict(os.environ), None, None, Clock(), SpyStorage(ExportStorageResource().get()), None)
        world.small = world.export(user="analyst", dataset="orders", format="csv", title="Q1 <orders> & co",
                                   filters=[{"column": "amount", "op": "ge", "value": "10"}],
                                   columns=["order_id", "amount", "status"])  # fmt: skip
        world.big = world.export(user="admin", dataset="orders", format="csv")
        assert world.small.skipped_rows and world.big.bytes > 3 * (1 << 20)
        from dagster import DagsterInstance

        world.server = start_server(create_app(instance=DagsterInstance.get(), storage=world.storage, now=world.clock))
        try:
            yield world
        finally:
            world.server.stop()


@pytest.fixture
def clock(world):
    world.clock.fixed = None
    yield world.clock
    world.clock.fixed = None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

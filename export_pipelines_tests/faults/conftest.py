"""Fault injection fixtures: proxies in front of the real PostgreSQL, moto S3 and aiosmtpd servers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance

from export_pipelines_tests.faults.s3_proxy import FailingS3Proxy
from export_pipelines_tests.faults.tcp_proxy import TcpProxy

# The job-running fixtures (a seeded source, a fresh data folder, run = one export the CLI's way).
from export_pipelines_tests.jobs.conftest import export_env, postgres_source, run, sqlite_source  # noqa: F401, I001


@pytest.fixture
def tcp_proxy():
    """Factory: ``tcp_proxy(host, port)`` starts a proxy to that server; all are stopped at the end."""
    proxies: list[TcpProxy] = []

    def start(host: str, port: int) -> TcpProxy:
        proxy = TcpProxy((host, port)).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def s3_proxy(s3_env, monkeypatch):
    """A FailingS3Proxy in front of the session's moto server; the storage backend talks to the proxy."""
    proxy = FailingS3Proxy(s3_env.endpoint_url).start()
    monkeypatch.setenv("EXPORT_S3_ENDPOINT_URL", proxy.endpoint_url)
    yield proxy
    proxy.stop()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """``url`` with the proxy's port, and no TLS negotiation: one TCP connection per connection attempt."""
    parsed = sa.make_url(url)
    proxied = parsed.set(host="127.0.0.1", port=proxy.port, query={**parsed.query, "sslmode": "disable"})
    return proxied.render_as_string(hide_password=False)


def sha256_of(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def attempts(run_id: str, step_key: str) -> int:
    """Attempts of a step as the event log tells them: the first, plus one per STEP_UP_FOR_RETRY."""
    entries = DagsterInstance.get().all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    return 1 + sum(entry.dagster_event.step_key == step_key for entry in entries)


def step_metadata(run_id: str, step_key: str) -> dict:
    found: dict = {}
    for entry in DagsterInstance.get().all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT):
        if entry.dagster_event.step_key == step_key:
            found |= {k: getattr(v, "value", v) for k, v in entry.dagster_event.event_specific_data.metadata.items()}
    return found

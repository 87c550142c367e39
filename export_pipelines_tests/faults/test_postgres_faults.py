"""PostgreSQL failing under a real export: connections reset while it "starts up", a connection cut mid-COPY.

The source URL points at a TCP proxy in front of the real server; the file is compared with an
undisturbed run of the same request (row count and SHA-256 of the decrypted file).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from export_pipelines_tests.faults.conftest import attempts, sha256_of, via_proxy

REQUEST = {"user": "analyst", "dataset": "orders", "format": "csv", "chunk_size": 200}


@pytest.fixture
def source_url(postgres_source):
    return postgres_source


@pytest.fixture
def undisturbed(run):
    record, location = run(**REQUEST)
    assert record.status == "SUCCESS", record.error
    return record, sha256_of(location)


def proxied(source_url, tcp_proxy, monkeypatch):
    parsed = sa.make_url(source_url)
    proxy = tcp_proxy(parsed.host, parsed.port or 5432)
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", via_proxy(source_url, proxy))
    return proxy


def test_connections_refused_twice_then_accepted_give_the_same_file(
    undisturbed, run, source_url, tcp_proxy, monkeypatch
):
    proxy = proxied(source_url, tcp_proxy, monkeypatch)
    proxy.reset_next(2)

    record, location = run(**REQUEST)

    assert record.status == "SUCCESS", record.error
    assert proxy.reset == 2
    assert attempts(record.run_id, "validate_request") == 3
    expected, expected_sha = undisturbed
    assert (record.rows, record.sha256, sha256_of(location)) == (expected.rows, expected.sha256, expected_sha)


def test_a_connection_cut_in_the_middle_of_collect_is_collected_again_into_the_same_file(
    undisturbed, run, source_url, tcp_proxy, monkeypatch
):
    proxy = proxied(source_url, tcp_proxy, monkeypatch)
    proxy.cut_after(40_000, "down")  # validation reads a few kB; the rows are well over 100 kB

    record, location = run(**REQUEST)

    assert record.status == "SUCCESS", record.error
    assert proxy.cuts == 1
    assert attempts(record.run_id, "validate_request") == 1
    assert attempts(record.run_id, "collect_chunks") == 2
    expected, expected_sha = undisturbed
    assert (record.rows, record.sha256, sha256_of(location)) == (expected.rows, expected.sha256, expected_sha)


def test_a_source_that_never_comes_back_fails_with_a_clear_reason(run, source_url, tcp_proxy, monkeypatch):
    proxy = proxied(source_url, tcp_proxy, monkeypatch)
    proxy.reset_next(100)

    record, location = run(**REQUEST)

    assert record.status == "FAILURE" and location is None
    assert record.error.startswith("validate_request: TransientSourceError: source database unavailable")
    assert "still failing after 4 attempts" in record.error

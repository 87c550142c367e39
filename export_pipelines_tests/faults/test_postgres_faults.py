"""PostgreSQL failing under a real export: connections reset while it "starts up", a connection cut mid-COPY.

The source URL points at a TCP proxy in front of the real server; the file is compared with an
undisturbed run of the same request (row count and SHA-256 of the decrypted file).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance

from export_pipelines_tests.faults.conftest import attempts, sha256_of, via_proxy

# Chunks of 50 rows (a few kB each), the server's CSV cut there too: a cut after 40 kB of rows comes with several
# chunks staged.
REQUEST = {"user": "analyst", "dataset": "orders", "format": "csv", "chunk_size": 50}
pytestmark = pytest.mark.usefixtures("small_server_chunks")


@pytest.fixture
def source_url(postgres_source):
    return postgres_source


@pytest.fixture
def undisturbed(run):
    record, location = run(**REQUEST)
    assert record.status == "SUCCESS", record.error
    return record, sha256_of(location)


def staged_before_first_retry(run_id: str, step_key: str = "collect_chunks") -> tuple[int, int]:
    """(chunks the step staged in its first attempt, chunks it staged in all), from the run's event log."""
    first, total, retried = 0, 0, False
    for entry in DagsterInstance.get().all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key != step_key:
            continue
        if event.event_type == DagsterEventType.STEP_UP_FOR_RETRY:
            retried = True
        elif event.event_type == DagsterEventType.STEP_OUTPUT:
            total += 1
            first += not retried
    return first, total


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
    proxy.cut_after(60_000, "down")  # validation reads a few kB; the rows are well over 100 kB

    record, location = run(**REQUEST)

    assert record.status == "SUCCESS", record.error
    assert proxy.cuts == 1 and b"COPY" in proxy.sent_before_cut  # the cut connection was in a COPY
    assert attempts(record.run_id, "validate_request") == 1
    assert attempts(record.run_id, "collect_chunks") == 2
    first, total = staged_before_first_retry(record.run_id)
    assert 0 < first < total, (first, total)  # the cut came mid-COPY: some chunks were staged, not all
    expected, expected_sha = undisturbed
    assert (record.rows, record.sha256, sha256_of(location)) == (expected.rows, expected.sha256, expected_sha)


def test_a_source_that_never_comes_back_fails_with_a_clear_reason(run, source_url, tcp_proxy, monkeypatch):
    proxy = proxied(source_url, tcp_proxy, monkeypatch)
    proxy.reset_next(100)

    record, location = run(**REQUEST)

    assert record.status == "FAILURE" and location is None
    assert record.error.startswith("validate_request: TransientSourceError: source database unavailable")
    assert "still failing after 4 attempts" in record.error


def test_a_source_that_goes_down_for_good_in_the_middle_of_collect_fails_with_a_clear_reason(
    run, source_url, tcp_proxy, monkeypatch
):
    proxy = proxied(source_url, tcp_proxy, monkeypatch)
    proxy.cut_after(60_000, "down", for_good=True)  # past validation, in the COPY of the rows; then gone

    record, location = run(**REQUEST)

    assert record.status == "FAILURE" and location is None
    assert proxy.cuts == 1 and proxy.reset > 0  # cut once, then every reconnection refused
    assert b"COPY" in proxy.sent_before_cut
    assert attempts(record.run_id, "validate_request") == 1
    assert attempts(record.run_id, "collect_chunks") > 1
    assert staged_before_first_retry(record.run_id)[0] > 0  # it went down with rows already staged
    assert record.error.startswith("collect_chunks: TransientSourceError: source database unavailable"), record.error
    assert "Traceback" not in record.error

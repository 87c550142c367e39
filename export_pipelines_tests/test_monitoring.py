"""Errors reach Sentry, and nothing of the data does: the real SDK posting to a real endpoint on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from importlib.resources import files
from pathlib import Path

import pytest
import sentry_sdk
import uvicorn
import yaml
from dagster import DagsterInstance

from export_pipelines.automation.launch import run_export
from export_pipelines.observability import monitoring
from export_pipelines.observability.code_version import code_version
from export_pipelines.request.model import ExportRequest
from export_pipelines.service.app import create_app
from export_pipelines_tests.sentry_server import SentryReceiver
from export_pipelines_tests.services import free_port

CLI = str(Path(sys.executable).with_name("export-pipelines"))
# Filter values nobody else would write: none of them may leave the process.
FILTERS = [
    {"column": "amount", "op": "gt", "value": "4242.42"},
    {"column": "customer_name", "op": "contains", "value": "Quixotic Zebra"},
]
FILTER_VALUES = [b"4242.42", b"Quixotic Zebra", b"Quixotic%20Zebra"]


@pytest.fixture
def tracking(sentry_receiver, monkeypatch):
    """Error tracking pointed at the receiver; this process starts it afresh, and stops it afterwards."""
    for name in monitoring.DSN_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPORT_SENTRY_DSN", sentry_receiver.dsn)
    monkeypatch.setenv("EXPORT_SENTRY_ENVIRONMENT", "test")
    monkeypatch.setattr(monitoring, "_enabled", None)
    yield sentry_receiver
    sentry_sdk.flush()
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_global_scope().remove_tag("process")


@pytest.fixture
def source(sqlite_url, dagster_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", "EXPORT_CATALOG_PATH"):
        monkeypatch.delenv(name, raising=False)
    return sqlite_url


@pytest.fixture
def broken_catalog(source, tmp_path, monkeypatch) -> Path:
    """A deployment bug: the catalog lists a column the source table does not have."""
    catalog = yaml.safe_load(files("export_pipelines.datasets").joinpath("catalog.yaml").read_text())
    catalog["datasets"]["orders"]["columns"]["ghost"] = {"type": "string", "label": "Ghost"}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    monkeypatch.setenv("EXPORT_CATALOG_PATH", str(path))
    return path


def _assert_no_request_values(receiver: SentryReceiver) -> None:
    sent = receiver.everything()
    for value in FILTER_VALUES:
        assert value not in sent, f"{value!r} reached the error tracker"


def test_a_failing_step_sends_one_event_with_the_run_context_and_no_request_values(tracking, broken_catalog):
    request = ExportRequest(user="admin", dataset="orders", format="csv", filters=FILTERS)

    record, _ = run_export(request, DagsterInstance.get(), "CRITICAL")
    sentry_sdk.flush()

    # The stored error names the failure without the statement or its bound values (the filter's 4242.42).
    assert record.status == "FAILURE" and "check that the catalog matches" in record.error
    assert "4242.42" not in record.error
    (event,) = tracking.events()
    assert event["tags"] == {
        "process": "run", "run_id": record.run_id, "user": "admin", "dataset": "orders", "format": "csv",
        "step": "collect_chunks",
    }  # fmt: skip
    assert event["release"] == code_version() and event["environment"] == "test"
    chain = event["exception"]["values"]  # the source's error, reworded without the statement (raised from None)
    assert [(e["module"], e["type"]) for e in chain][-1] == ("export_pipelines.errors", "SourceDatabaseError")
    assert all(e["value"] == monitoring.WITHHELD for e in chain)
    frames = [frame for e in chain for frame in e["stacktrace"]["frames"]]
    assert frames and not any("vars" in frame for frame in frames)
    assert any((frame.get("module") or "").startswith("export_pipelines.run.ops.") for frame in frames)
    assert not {"request", "extra", "user", "breadcrumbs"} & set(event)
    _assert_no_request_values(tracking)


def test_a_successful_export_sends_nothing(tracking, source):
    record, _ = run_export(ExportRequest(user="admin", dataset="orders", filters=FILTERS[:1]), DagsterInstance.get())
    sentry_sdk.flush()

    assert record.status == "SUCCESS", record.error
    assert tracking.envelopes == []


def test_a_refused_request_sends_nothing(tracking, source):
    """No grant: the requester's to fix, told to them and in the audit history, not an operator's error."""
    record, _ = run_export(ExportRequest(user="auditor", dataset="orders"), DagsterInstance.get(), "CRITICAL")
    sentry_sdk.flush()

    assert record.status == "FAILURE" and "PermissionDenied" in record.error
    assert tracking.envelopes == []


def test_the_command_line_reports_a_failing_export_before_it_exits(sentry_receiver, broken_catalog, tmp_path):
    env = {**os.environ, "EXPORT_SENTRY_DSN": sentry_receiver.dsn, "SMTP_PASSWORD": "smtp-Secret-9f3"}
    filters = [arg for f in FILTERS for arg in ("--filter", f"{f['column']} {f['op']} {f['value']}")]

    done = subprocess.run(
        [CLI, "export", "--user", "admin", "--dataset", "orders", *filters], env=env, capture_output=True, text=True
    )

    assert done.returncode == 1 and "check that the catalog matches the database's tables" in done.stderr
    (event,) = sentry_receiver.events()  # sent at exit, without a flush of its own
    assert event["tags"]["process"] == "cli" and event["tags"]["step"] == "collect_chunks"
    assert not {"extra", "request"} & set(event), "sys.argv holds the filters"
    _assert_no_request_values(sentry_receiver)


def test_configured_secrets_never_leave_the_process(tracking, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-smtp")
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", "postgresql://exporter:db%2Fpa55@db.internal/shop")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG")
    assert monitoring.init_error_tracking("test")

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("where", "smtp as hunter2-smtp")
        scope.set_context("source", {"url": "postgresql://exporter:db/pa55@db.internal/shop"})
        scope.set_extra("aws", "wJalrXUtnFEMI/K7MDENG")
        try:
            password = "hunter2-smtp"  # noqa: F841 (a local the event must not carry)
            raise ConnectionError("login failed for hunter2-smtp")
        except ConnectionError as error:
            sentry_sdk.capture_exception(error)
    sentry_sdk.flush()

    (event,) = tracking.events()
    sent = tracking.everything()
    for secret in (b"hunter2-smtp", b"db%2Fpa55", b"db/pa55", b"wJalrXUtnFEMI/K7MDENG"):
        assert secret not in sent, secret
    assert event["tags"]["where"] == "smtp as [secret]" and event["tags"]["process"] == "test"
    assert event["contexts"]["source"]["url"] == "postgresql://exporter:[secret]@db.internal/shop"
    assert event["exception"]["values"][0]["value"] == monitoring.WITHHELD


def test_scrub_event_drops_messages_locals_and_request_data_and_blanks_secrets():
    event = {
        "exception": {"values": [{"type": "KeyError", "value": "'row 17: Müller'", "stacktrace": {"frames": [
            {"function": "f", "vars": {"row": "Müller"}}]}}]},
        "threads": {"values": [{"stacktrace": {"frames": [{"function": "g", "vars": {"key": "k"}}]}}]},
        "request": {"url": "https://x/d/TOKEN", "data": "filter=secret", "headers": {"Authorization": "Bearer t"}},
        "extra": {"sys.argv": ["export", "--filter", "amount gt 4242"]},
        "breadcrumbs": {"values": [{"message": "SELECT ... 4242"}]},
        "user": {"ip_address": "10.0.0.1"},
        "tags": {"note": "key s3cr3t-value inside", "s3cr3t-value": "as a key"},
        "contexts": {"list": ["s3cr3t-value", 1, None]},
    }  # fmt: skip

    scrubbed = monitoring.scrub_event(event, {"s3cr3t-value"})

    assert set(scrubbed) == {"exception", "threads", "tags", "contexts"}
    assert scrubbed["exception"]["values"][0]["value"] == monitoring.WITHHELD
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"] == [{"function": "f"}]
    assert scrubbed["threads"]["values"][0]["stacktrace"]["frames"] == [{"function": "g"}]
    assert scrubbed["tags"] == {"note": "key [secret] inside", "[secret]": "as a key"}
    assert scrubbed["contexts"] == {"list": ["[secret]", 1, None]}


def test_secrets_are_found_by_name_and_inside_urls():
    environ = {
        "SMTP_PASSWORD": "pw-1234",
        "EXPORT_LINK_SIGNING_KEYS": '{"k1": "abcdef"}',
        "EXPORT_OPS_WEBHOOK_URL": "https://hooks.example/T000/B000/XXXX",
        "DAGSTER_POSTGRES_URL": "postgresql://dagster:p%40ss@db/dagster",
        "EXPORT_CELERY_BROKER_URL": "redis://:broker-pw@redis:6379/0",
        "EXPORT_SOURCE_DB_URL": "postgresql://reader@db/shop",  # no password
        "EXPORT_MAX_ROWS": "1000000",
        "EXPORT_TRUST_UNSIGNED_SUBMISSIONS": "1",
        "SMTP_USER": "mailer",
    }

    assert monitoring.configured_secrets(environ) == {
        "pw-1234",
        '{"k1": "abcdef"}',
        "https://hooks.example/T000/B000/XXXX",
        "p%40ss",
        "p@ss",
        "broker-pw",
    }


def test_error_tracking_is_off_without_a_dsn(monkeypatch):
    monkeypatch.setattr(monitoring, "_enabled", None)

    assert monitoring.init_error_tracking("test", environ={}) is False
    assert not sentry_sdk.get_client().is_active()


def test_sentrys_own_dsn_variable_turns_error_tracking_on(sentry_receiver, monkeypatch):
    """SENTRY_DSN alone (Sentry's own name, which the README documents) is enough."""
    monkeypatch.setattr(monitoring, "_enabled", None)
    try:
        assert monitoring.init_error_tracking("test", environ={"SENTRY_DSN": sentry_receiver.dsn}) is True
        sentry_sdk.capture_message("through SENTRY_DSN")
        sentry_sdk.flush()
        (event,) = sentry_receiver.events()
        assert event["tags"]["process"] == "test"
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
        sentry_sdk.get_global_scope().remove_tag("process")


MALFORMED_DSN = "sentry.example/1"
# What the error tracker says when it cannot start: one line, naming the variable.
OFF_WARNING = "Error tracking is off in this process: EXPORT_SENTRY_DSN is set, but Sentry could not be started"


def test_a_malformed_dsn_warns_once_naming_the_variable_and_the_process_goes_on(monkeypatch, caplog):
    monkeypatch.setattr(monitoring, "_enabled", None)

    with caplog.at_level("WARNING", logger=monitoring.__name__):
        assert monitoring.init_error_tracking("test", environ={"EXPORT_SENTRY_DSN": MALFORMED_DSN}) is False
        assert monitoring.init_error_tracking("test", environ={"EXPORT_SENTRY_DSN": MALFORMED_DSN}) is False

    (record,) = caplog.records
    assert OFF_WARNING in record.getMessage() and "BadDsn" in record.getMessage()
    assert MALFORMED_DSN not in record.getMessage(), "the warning names the variable, not its value"
    assert not sentry_sdk.get_client().is_active()


def test_an_sdk_that_refuses_an_option_leaves_the_process_running_without_it(monkeypatch, caplog):
    """sentry-sdk 3.0 refused ``include_local_variables`` with a TypeError at init: that must not crash a process."""
    monkeypatch.setattr(monitoring, "_enabled", None)
    monkeypatch.setenv("SMTP_PASSWORD", "pw-in-a-message")

    def sdk_3_init(*args, **options):
        raise TypeError("Unknown option 'include_local_variables' (smtp pw-in-a-message)")

    monkeypatch.setattr(sentry_sdk, "init", sdk_3_init)
    with caplog.at_level("WARNING", logger=monitoring.__name__):
        environ = {**os.environ, "EXPORT_SENTRY_DSN": "http://k@127.0.0.1:9/1"}
        assert monitoring.init_error_tracking("cli", environ=environ) is False

    (record,) = caplog.records
    message = record.getMessage()
    assert "TypeError: Unknown option 'include_local_variables'" in message
    assert "pw-in-a-message" not in message and "[secret]" in message


@pytest.mark.parametrize(
    "dsn, warns",
    [(MALFORMED_DSN, True), ("http://public@127.0.0.1:9/1", False)],  # 9: discard, nothing listens
    ids=["malformed", "unreachable"],
)
def test_the_command_line_exports_whatever_the_error_tracker_does(source, dsn, warns, tmp_path):
    env = {**os.environ, "EXPORT_SENTRY_DSN": dsn}
    out = tmp_path / "orders.csv"

    done = subprocess.run(
        [CLI, "export", "--user", "admin", "--dataset", "orders", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert out.read_text().count("\n") > 1
    assert done.stderr.count(OFF_WARNING) == (1 if warns else 0), done.stderr


def test_the_download_service_serves_with_an_error_tracker_that_cannot_start(source, tmp_path):
    port = free_port()
    env = {**os.environ, "EXPORT_SENTRY_DSN": MALFORMED_DSN}
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [CLI, "serve", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/d/not-a-token", timeout=5)
            except urllib.error.HTTPError as answer:
                status = answer.code
                break
            except OSError:
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert status in (400, 403, 404, 410)
    assert log.read_text().count(OFF_WARNING) == 1


def test_the_download_service_reports_a_server_error_without_the_link_or_its_headers(tracking):
    def broken_clock():
        raise RuntimeError("the clock is gone")  # a bug: neither a refusal nor anything the service expects

    app = create_app(instance=DagsterInstance.ephemeral(), storage=object(), now=broken_clock, environ=os.environ)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    token = "eyJsink.eyJsecretclaims.c2lnbmF0dXJl"
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/d/{token}?filter=Quixotic%20Zebra", headers={"Authorization": "Bearer sesame-42"}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    sentry_sdk.flush()

    assert answer.value.code == 500 and b"Traceback" not in answer.value.read()
    (event,) = tracking.events()
    assert event["tags"]["process"] == "download-service"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["exception"]["values"][-1]["value"] == monitoring.WITHHELD
    sent = tracking.everything()
    for leak in (token.encode(), b"eyJsecretclaims", b"sesame-42"):
        assert leak not in sent, leak
    _assert_no_request_values(tracking)

"""Operators hear of every failed export once: by mail (a real SMTP server) and webhook (a real HTTP server).

The sensor is evaluated the way the daemon does it, on failed runs of export_job that really ran
in a real instance with the project's run retry settings. A failure that Dagster will retry is not
an alert; the attempt that ends the run's retries is.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    build_run_status_sensor_context,
    reconstructable,
)
from dagster._core.execution.api import execute_run
from dagster._core.storage.tags import (
    MAX_RETRIES_TAG,
    PARENT_RUN_ID_TAG,
    RETRY_NUMBER_TAG,
    RETRY_ON_ASSET_OR_OP_FAILURE_TAG,
    ROOT_RUN_ID_TAG,
    WILL_RETRY_TAG,
)

from export_pipelines.automation.alerts import AlertDeliveryError, alert_reason, export_failure_alert_sensor
from export_pipelines.automation.launch import _export_job, run_export
from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.automation.conftest import _origin
from export_pipelines_tests.automation.doors import receipt_tags

PROJECT = Path(__file__).resolve().parents[2]
REFUSED = ExportRequest(user="auditor", dataset="orders", format="csv")  # auditor holds no grant
PAYLOAD_FIELDS = {
    "event", "run_id", "first_run_id", "attempt", "user", "dataset", "format", "step", "error_type", "reason",
    "failed_at",
}  # fmt: skip


@dataclass
class Webhook:
    """An HTTP endpoint on loopback that records every POST and answers with ``statuses`` (then 204)."""

    url: str = ""
    received: list[dict] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def webhook():
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(hook.statuses.pop(0) if hook.statuses else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/exports"
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance(sqlite_url, dagster_home, tmp_path, monkeypatch):
    """An instance with the project's run retry settings; exports read the seeded source."""
    settings = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    (dagster_home / "dagster.yaml").write_text(
        yaml.safe_dump({"telemetry": {"enabled": False}, "run_retries": settings["run_retries"]})
    )
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_url)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    for name in ("EXPORT_STORAGE_URL", "EXPORT_OPS_EMAIL", "EXPORT_OPS_WEBHOOK_URL", "SMTP_HOST", "SMTP_USER"):
        monkeypatch.delenv(name, raising=False)
    with DagsterInstance.get() as instance:
        assert instance.run_retries_enabled
        yield instance


@pytest.fixture
def operators(instance, smtp_server, webhook, monkeypatch):
    """Both channels configured: two addresses through the test SMTP server, and the webhook."""
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("SMTP_FROM", "exports@example.com")
    monkeypatch.setenv("EXPORT_OPS_EMAIL", "ops@example.com, oncall@example.com")
    monkeypatch.setenv("EXPORT_OPS_WEBHOOK_URL", webhook.url)
    return smtp_server, webhook


def _evaluate(instance: DagsterInstance, run_id: str) -> None:
    """Evaluate the sensor on the run's failure event, as the daemon does."""
    run = instance.get_run_by_id(run_id)
    (failure,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name=export_failure_alert_sensor.name,
        dagster_event=failure.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
    ).for_run_failure()
    export_failure_alert_sensor(context)


def _run_with_origin(instance: DagsterInstance, tags: dict, parent: str | None = None) -> str:
    """Run the refused export the way a run worker does: a run with a code location origin (so retryable)."""
    job = _export_job()
    family = {PARENT_RUN_ID_TAG: parent, ROOT_RUN_ID_TAG: parent} if parent else {}  # as the retry daemon tags
    run_id = str(uuid.uuid4())
    run = instance.create_run_for_job(
        job_def=job, run_id=run_id, run_config=REFUSED.run_config(),
        tags={**receipt_tags(run_id, REFUSED), **tags, **family},
        remote_job_origin=_origin(), job_code_origin=reconstructable(_export_job).get_python_origin(),
        parent_run_id=parent, root_run_id=parent,
    )  # fmt: skip
    execute_run(reconstructable(_export_job), run, instance)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
    return run.run_id


def test_a_failed_export_alerts_operators_once_by_mail_and_webhook(instance, operators):
    smtp, webhook = operators
    record, _ = run_export(REFUSED, instance)
    assert record.status == "FAILURE" and instance.get_run_by_id(record.run_id).tags[WILL_RETRY_TAG] == "false"

    _evaluate(instance, record.run_id)
    _evaluate(instance, record.run_id)  # evaluated again (a reset cursor, a second daemon): no second alert

    (post,) = webhook.received
    payload = post["body"]
    assert post["path"] == "/hooks/exports" and post["type"] == "application/json"
    assert set(payload) == PAYLOAD_FIELDS
    assert payload["event"] == "export_failed" and payload["run_id"] == payload["first_run_id"] == record.run_id
    assert (payload["user"], payload["dataset"], payload["format"]) == ("auditor", "orders", "csv")
    assert (payload["step"], payload["error_type"], payload["attempt"]) == ("validate_request", "PermissionDenied", 1)
    assert "auditor" in payload["reason"] and "grant" in payload["reason"]
    (envelope,) = smtp.envelopes
    assert set(envelope.rcpt_tos) == {"ops@example.com", "oncall@example.com"}
    (message,) = smtp.messages
    assert message["Subject"] == f"Export failed: orders for auditor (run {record.run_id[:8]})"
    body = message.get_body(("plain",)).get_content()
    assert record.run_id in body and "validate_request" in body and payload["reason"] in body
    tags = instance.get_run_by_id(record.run_id).tags
    assert tags["export/alerted_by_email"] and tags["export/alerted_by_webhook"]


def test_an_attempt_that_will_be_retried_is_not_alerted_and_the_last_attempt_is(instance, operators):
    smtp, webhook = operators
    retried = {RETRY_ON_ASSET_OR_OP_FAILURE_TAG: "true", MAX_RETRIES_TAG: "1"}  # this export's step failures retry

    first = _run_with_origin(instance, retried)
    assert instance.get_run_by_id(first).tags[WILL_RETRY_TAG] == "true"
    _evaluate(instance, first)
    assert webhook.received == [] and smtp.envelopes == []

    last = _run_with_origin(instance, {**retried, RETRY_NUMBER_TAG: "1"}, parent=first)
    assert instance.get_run_by_id(last).tags[WILL_RETRY_TAG] == "false"
    _evaluate(instance, last)

    (post,) = webhook.received
    assert (post["body"]["run_id"], post["body"]["first_run_id"], post["body"]["attempt"]) == (last, first, 2)
    assert len(smtp.envelopes) == 1


def test_a_run_that_died_outside_its_steps_is_alerted_with_dagster_s_reason(instance, operators):
    _, webhook = operators
    run = instance.create_run_for_job(
        job_def=_export_job(), run_config=REFUSED.run_config(), tags={**REFUSED.run_tags(), MAX_RETRIES_TAG: "0"},
        remote_job_origin=_origin(), status=DagsterRunStatus.STARTED,
    )  # fmt: skip
    instance.report_run_failed(run, "Exceeded maximum runtime of 21600 seconds.")

    _evaluate(instance, run.run_id)

    (post,) = webhook.received
    assert post["body"]["step"] is None and post["body"]["reason"] == "Exceeded maximum runtime of 21600 seconds."


def test_a_channel_that_fails_is_reported_and_the_other_is_not_repeated(instance, operators):
    smtp, webhook = operators
    webhook.statuses += [500, 500]  # the first try and its one retry
    record, _ = run_export(REFUSED, instance)

    with pytest.raises(AlertDeliveryError, match=r"webhook .*HTTP Error 500"):
        _evaluate(instance, record.run_id)
    assert len(smtp.envelopes) == 1 and len(webhook.received) == 2

    _evaluate(instance, record.run_id)  # the endpoint is back

    assert len(smtp.envelopes) == 1 and len(webhook.received) == 3


def test_without_operator_channels_nothing_is_sent_and_nothing_fails(instance, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    record, _ = run_export(REFUSED, instance)

    _evaluate(instance, record.run_id)

    assert smtp_server.envelopes == []
    assert "export/alerted_by_email" not in instance.get_run_by_id(record.run_id).tags


def test_reasons_that_may_quote_data_are_withheld():
    assert alert_reason("PermissionDenied", "user 'x' holds no grant") == "user 'x' holds no grant"
    withheld = alert_reason("OperationalError", "(sqlite3) bad value [parameters: ('Ana Lima', 12)]")
    assert "Ana Lima" not in withheld and "OperationalError" in withheld and "run's log" in withheld
    assert "s3cr3t" not in alert_reason("TransientSourceError", "cannot reach postgresql://u:s3cr3t@db/x")


def test_the_sensor_is_in_the_code_location_watching_export_job_and_on_by_default():
    from dagster import DefaultSensorStatus

    from export_pipelines.definitions import defs

    sensor = defs.get_sensor_def("export_failure_alert_sensor")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert [job.name for job in sensor._monitored_jobs] == ["export_job"]  # no public accessor in 1.13

"""Operator alerts: every export run that fails for good is reported once, by mail and/or webhook.

``export_failure_alert_sensor`` watches ``export_job`` (on by default). A failed run that Dagster
will retry (``run_retries`` in dagster.yaml: a run whose worker died, not one whose step failed) is
not an alert yet; the attempt that ends its retries is, naming the first run and the attempt.

Channels, read from the environment at every evaluation:

- ``EXPORT_OPS_EMAIL``: comma-separated addresses, sent through the SMTP server of the export
  notifications (``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_TLS``, ``SMTP_USER``... see ``notifiers.email``).
- ``EXPORT_OPS_WEBHOOK_URL``: an http(s) URL that receives a JSON POST (chat, paging, ticketing).

An alert carries the run id, the user, dataset and format, the failed step and why; never a row
value or a secret. The error text of export_pipelines' own errors is written for people and is
passed on; any other error's text may quote data (a database error repeats the values it choked
on), so only its type is, with a pointer to the run's log. Each channel that delivered tags the run
(``export/alerted_by_email``, ``export/alerted_by_webhook``), so an alert is never sent twice on a
channel, even when the sensor sees the failure again; a channel that fails after one retry fails
the sensor's evaluation, which the Dagster UI shows on the sensor and the run.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.tags import RETRY_NUMBER_TAG, RUN_FAILURE_REASON_TAG, WILL_RETRY_TAG

from export_pipelines.errors import ExportError, SettingsError
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER
from export_pipelines.request.recipients import AddressError, plain_address
from export_pipelines.run.jobs import export_job

OPS_EMAIL_ENV = "EXPORT_OPS_EMAIL"
OPS_WEBHOOK_ENV = "EXPORT_OPS_WEBHOOK_URL"
TAG_ALERTED = "export/alerted_by_{channel}"
TIMEOUT_SECONDS = 10
RETRY_DELAY_SECONDS = 1.0
# Errors whose text is written for people, besides export_pipelines' own (ExportError and its subclasses).
_READABLE_ERRORS = {"CodeVersionMismatch", "Failure"}
_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]*@", re.IGNORECASE)
_GENERIC_RUN_FAILURE = "This run has been marked as failed from outside the execution context."


class AlertDeliveryError(Exception):
    """An operator channel could not be reached; the message names it and why.

    ``delivered``: the tags of the channels that did deliver, to be recorded all the same.
    """

    def __init__(self, message: str, delivered: Mapping[str, str] | None = None):
        super().__init__(message)
        self.delivered = dict(delivered or {})


@dataclass(frozen=True)
class FailureAlert:
    """What operators are told about one failed export run: the webhook's JSON body, field for field."""

    run_id: str
    first_run_id: str
    attempt: int
    user: str | None
    dataset: str | None
    format: str | None
    step: str | None
    error_type: str | None
    reason: str
    failed_at: str
    event: str = "export_failed"

    def subject(self) -> str:
        return f"Export failed: {self.dataset or '?'} for {self.user or '?'} (run {self.run_id[:8]})"

    def text(self) -> str:
        facts = [("Run", self.run_id), ("Attempt", str(self.attempt))]
        if self.first_run_id != self.run_id:
            facts.append(("First run", self.first_run_id))
        facts += [("User", self.user or "-"), ("Dataset", self.dataset or "-"), ("Format", self.format or "-"),
                  ("Failed step", self.step or "none (the run failed outside its steps)"),
                  ("Error", self.error_type or "-"), ("Failed at", self.failed_at)]  # fmt: skip
        lines = "\n".join(f"{name + ':':<13} {value}" for name, value in facts)
        return f"An export failed and will not be retried.\n\n{lines}\n\n{self.reason}\n"


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go; empty means nowhere."""

    emails: tuple[str, ...] = ()
    webhook_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AlertSettings:
        emails = []
        for text in (part.strip() for part in environ.get(OPS_EMAIL_ENV, "").split(",")):
            if text:
                try:
                    emails.append(plain_address(text))
                except AddressError as error:
                    raise SettingsError(f"{OPS_EMAIL_ENV}: {error}; give addresses separated by commas") from None
        url = environ.get(OPS_WEBHOOK_ENV, "").strip() or None
        if url and not url.lower().startswith(("http://", "https://")):
            raise SettingsError(f"{OPS_WEBHOOK_ENV} must be an http:// or https:// URL")
        return cls(tuple(emails), url)


def alert_reason(error_type: str | None, text: str) -> str:
    """The error's text if it is written for people, else its type and where to read more; never a password."""
    if error_type and error_type not in _READABLE_ERRORS and error_type not in _export_error_names():
        return f"{error_type}: the error's text is not repeated in alerts (it may quote data); read the run's log."
    first_lines = " ".join(text.strip().splitlines()[:3])[:1000]
    return _CREDENTIALS_IN_URL.sub(r"\g<scheme>***@", first_lines)


def will_be_retried(instance: DagsterInstance, run: DagsterRun) -> bool:
    """Dagster's own verdict (the run's will_retry tag, else its rule), and only if it can retry this run."""
    if run.remote_job_origin is None:  # run outside any code location (a test, a script): nothing can retry it
        return False
    verdict = run.tags.get(WILL_RETRY_TAG)
    if verdict is not None:
        return verdict == "true"
    if not instance.run_retries_enabled:
        return False
    from dagster._core.events import RunFailureReason

    reason = run.tags.get(RUN_FAILURE_REASON_TAG)
    return auto_reexecution_should_retry_run(instance, run, RunFailureReason(reason) if reason else None)


def failure_alert(context: RunFailureSensorContext) -> FailureAlert:
    """The alert for the run the context is about: its first failed step and why, else why the run failed."""
    run = context.dagster_run
    step = error_type = None
    reason = ""
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        step = event.step_key
        if data.user_failure_data is not None:  # a Failure: permanent_errors_fail_fast names the error's type
            type_value = data.user_failure_data.metadata.get("error_type")
            error_type = getattr(type_value, "value", type_value) or "Failure"
            reason = data.user_failure_data.description or ""
        elif data.error is not None:
            error_type, reason = data.error.cls_name, data.error.message
        break
    if step is None:
        error_type, reason = _run_failure(context.instance, run.run_id, context.failure_event)
    return FailureAlert(
        run_id=run.run_id,
        first_run_id=run.root_run_id or run.run_id,
        attempt=int(run.tags.get(RETRY_NUMBER_TAG, "0")) + 1,
        user=run.tags.get(TAG_USER),
        dataset=run.tags.get(TAG_DATASET),
        format=run.tags.get(TAG_FORMAT),
        step=step,
        error_type=error_type,
        reason=alert_reason(error_type, reason or "no reason was recorded"),
        failed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _run_failure(instance: DagsterInstance, run_id: str, event) -> tuple[str | None, str]:
    """A failure outside any step: the error raised, else Dagster's message, made specific where it can be."""
    data = event.event_specific_data
    if data is not None and getattr(data, "error", None) is not None:
        return data.error.cls_name, data.error.message
    message = (event.message or "").strip()
    if message == _GENERIC_RUN_FAILURE:  # the code server saw the worker die: its engine event says how
        for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
            if "Run execution process" in (entry.message or ""):
                return None, f"{message} {entry.message.strip()}"
    return None, message


def send_alert(alert: FailureAlert, settings: AlertSettings, already: Mapping[str, str]) -> dict[str, str]:
    """Deliver on every configured channel not in ``already``; return the tags of those that delivered.

    Raises AlertDeliveryError naming the channels that failed, after trying all of them.
    """
    channels: dict[str, Callable[[], None]] = {}
    if settings.emails:
        channels["email"] = lambda: _send_email(alert, settings.emails)
    if settings.webhook_url:
        channels["webhook"] = lambda: _post_webhook(alert, settings.webhook_url)
    delivered, failures = {}, []
    for channel, deliver in channels.items():
        tag = TAG_ALERTED.format(channel=channel)
        if tag in already:
            continue
        try:
            _with_one_retry(deliver)
        except Exception as error:
            failures.append(f"{channel} ({type(error).__name__}: {alert_reason(None, str(error))})")
            continue
        delivered[tag] = datetime.now(UTC).isoformat(timespec="seconds")
    if failures:
        raise AlertDeliveryError(
            f"the alert for run {alert.run_id} was not delivered by {', '.join(failures)}; "
            f"{', '.join(delivered) or 'no channel'} delivered it",
            delivered,
        )
    return delivered


def _with_one_retry(deliver: Callable[[], None]) -> None:
    try:
        deliver()
    except AlertDeliveryError:  # a setting is missing: trying again cannot help
        raise
    except Exception:
        time.sleep(RETRY_DELAY_SECONDS)
        deliver()


def _send_email(alert: FailureAlert, recipients: tuple[str, ...]) -> None:
    from export_pipelines.notifiers.email import EmailSettings
    from export_pipelines.notifiers.smtp_session import open_session

    settings = EmailSettings.from_env()
    if not settings.smtp_host:
        raise AlertDeliveryError(f"{OPS_EMAIL_ENV} is set but SMTP_HOST is not: set the SMTP_* variables")
    message = EmailMessage()
    message["Subject"] = alert.subject()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(alert.text())
    client = open_session(settings)
    try:
        client.send_message(message, from_addr=settings.smtp_from, to_addrs=list(recipients))
    finally:
        client.close()


def _post_webhook(alert: FailureAlert, url: str) -> None:
    body = json.dumps(asdict(alert)).encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "export-pipelines-alerts"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only, checked
        response.read()


def _export_error_names() -> set[str]:
    names, pending = set(), [ExportError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


@run_failure_sensor(
    name="export_failure_alert_sensor",
    monitored_jobs=[export_job],
    default_status=DefaultSensorStatus.RUNNING,
    description=f"Alert operators ({OPS_EMAIL_ENV}, {OPS_WEBHOOK_ENV}) once for every export run that failed "
    "and will not be retried.",
)
def export_failure_alert_sensor(context: RunFailureSensorContext) -> None:
    """Tell operators about the failed export run, unless Dagster retries it or every channel already has."""
    run, instance = context.dagster_run, context.instance
    if will_be_retried(instance, run):
        context.log.info(f"Run {run.run_id} failed and will be retried: no alert for this attempt.")
        return
    settings = AlertSettings.from_env()
    if not settings.emails and not settings.webhook_url:
        context.log.warning(f"Run {run.run_id} failed; no alert sent: set {OPS_EMAIL_ENV} or {OPS_WEBHOOK_ENV}.")
        return
    try:
        delivered = send_alert(failure_alert(context), settings, run.tags)
    except AlertDeliveryError as error:
        if error.delivered:
            instance.add_run_tags(run.run_id, error.delivered)
        raise
    if delivered:
        instance.add_run_tags(run.run_id, delivered)

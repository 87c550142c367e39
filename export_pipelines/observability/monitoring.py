"""Errors reach an error tracker (Sentry), and none of the data comes with them.

On when a DSN is set, in ``EXPORT_SENTRY_DSN`` or Sentry's own ``SENTRY_DSN``; off (nothing imported
or sent) when neither is. ``EXPORT_SENTRY_ENVIRONMENT`` names the environment (production,
staging...); the release is the code version (``code_version``), the one runs are tagged with.

``init_error_tracking`` runs once per process: where the command line starts (``cli.main``), where
the download service is built (``service.app.create_app``), where a Celery worker loads its app
(``celery_app``), and, in every other process that runs steps (a Dagster run worker, a multiprocess
step), when the first step fails there (``report_step_failure``, export_job's failure hook).

An event carries the exception's type and stack (files, functions, lines of code) and, for a failed
step, the run id, user, dataset, format and step as tags. It never carries:

- exception messages: they quote request and row values (a database error prints the query's
  parameters, a refused filter its value, a cast error the cell). The run id leads to the full
  message in the run's event log, in Dagster, behind the deployment's own access control;
- local variables (``include_local_variables=False``), request bodies, headers, URLs and cookies (a
  download link is a bearer token), breadcrumbs, the command line (its filters);
- any string holding a configured secret: the value of every environment variable named like one
  (``..._PASSWORD``, ``..._SECRET...``, ``..._TOKEN``, ``..._PRIVATE_KEY``, ``..._SIGNING_KEYS``, webhook
  URLs) and the password in every URL-valued one (source database, Dagster storage, broker) is
  replaced by ``[secret]`` wherever it appears.

Refusals (an invalid request, no grant, too many rows) are the requester's to fix and are not sent:
the requester was told, and the audit history has them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from dagster import Failure, HookContext, failure_hook

from export_pipelines.errors import ExportRequestError, PermissionDenied, RowLimitExceeded
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_USER

DSN_ENVS = ("EXPORT_SENTRY_DSN", "SENTRY_DSN")
ENVIRONMENT_ENV = "EXPORT_SENTRY_ENVIRONMENT"
DOWNLOAD_SERVICE = "download-service"
WITHHELD = "(message withheld: it may quote request or row values; the run's event log in Dagster has it)"
SECRET = "[secret]"
REFUSALS = (ExportRequestError, PermissionDenied, RowLimitExceeded)
# Environment variables whose whole value is a secret, by name.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|SIGNING_KEY|CREDENTIAL|WEBHOOK")
# Shorter values ("1", "on") would blank out unrelated text and hide nothing worth hiding.
_MIN_SECRET_LENGTH = 4
_TAG_LENGTH = 200  # Sentry drops longer tag values

_enabled: bool | None = None  # None until init_error_tracking ran in this process
logger = logging.getLogger(__name__)


def init_error_tracking(process: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Start the Sentry SDK in this process, once; True when events will be sent.

    ``process`` (cli, download-service, celery-worker, run) becomes the ``process`` tag of every event.
    Starting it can fail (a malformed DSN, an SDK release that renamed an option): the process then logs
    one warning naming the variable and the cause, and does its work without error tracking. Error
    tracking is there to report failures; it must never be one.
    """
    global _enabled
    if _enabled is not None:
        return _enabled
    named = next((name for name in DSN_ENVS if environ.get(name)), None)
    _enabled = False
    if named is None:
        return False
    try:
        _start_sentry(process, named, environ)
    except Exception as error:  # noqa: BLE001 (whatever the SDK raises, the process goes on without it)
        logger.warning(
            "Error tracking is off in this process: %s is set, but Sentry could not be started (%s: %s). "
            "Check the DSN (copy it from the Sentry project) and the sentry-sdk version (requirements.lock).",
            named,
            type(error).__name__,
            _without_secrets(str(error).replace(environ[named], named), _secrets_for_message(environ)),
        )
        return False
    _enabled = True
    return True


def _start_sentry(process: str, named: str, environ: Mapping[str, str]) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.utils import Dsn

    from export_pipelines.observability.code_version import code_version

    # Chosen one by one: the defaults would add sys.argv (filters), log lines and HTTP breadcrumbs.
    integrations = [AtexitIntegration(), DedupeIntegration(), ExcepthookIntegration()]
    if process == DOWNLOAD_SERVICE:
        from sentry_sdk.integrations.starlette import StarletteIntegration

        integrations.append(StarletteIntegration())
    secrets = configured_secrets(environ)
    Dsn(environ[named])  # BadDsn names what is wrong before init would swallow it
    sentry_sdk.init(
        dsn=environ[named],
        environment=environ.get(ENVIRONMENT_ENV) or None,
        release=code_version(),
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=integrations,
        include_local_variables=False,
        send_default_pii=False,
        max_request_body_size="never",
        max_breadcrumbs=0,
        auto_session_tracking=False,
        before_send=lambda event, hint: scrub_event(event, secrets),
    )
    sentry_sdk.get_global_scope().set_tag("process", process)  # every thread and task of the process


def _secrets_for_message(environ: Mapping[str, str]) -> list[str]:
    return sorted(configured_secrets(environ), key=len, reverse=True)


@failure_hook
def report_step_failure(context: HookContext) -> None:
    """A step failed for good: send its error to the error tracker with the run id, user, dataset and step.

    Nothing is sent when no DSN is set, nor for refusals (the requester's to fix).
    """
    error = context.op_exception
    if isinstance(error, Failure) and error.__cause__ is not None:  # ops wrap permanent errors in a Failure
        error = error.__cause__
    if isinstance(error, REFUSALS) or not init_error_tracking("run"):
        return
    import sentry_sdk

    run = context.instance.get_run_by_id(context.run_id)
    tags = run.tags if run else {}
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("run_id", context.run_id)
        scope.set_tag("step", context.step_key)
        for name, tag in (("user", TAG_USER), ("dataset", TAG_DATASET), ("format", TAG_FORMAT)):
            if tags.get(tag):
                scope.set_tag(name, _tag_value(tags[tag]))
        if error is None:
            sentry_sdk.capture_message(f"step {context.step_key} failed", level="error")
        else:
            sentry_sdk.capture_exception(error)


def configured_secrets(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """Values of secret-named variables, and passwords inside URL-valued ones (as written and decoded)."""
    found = set()
    for name, value in environ.items():
        if not value:
            continue
        if _SECRET_NAME.search(name.upper()):
            found.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.update((password, unquote(password)))
    return frozenset(secret for secret in found if len(secret) >= _MIN_SECRET_LENGTH)


def scrub_event(event: dict, secrets: Iterable[str]) -> dict:
    """``before_send``: keep types, stacks and tags; drop messages, locals, request data; blank out secrets."""
    for field in ("request", "extra", "user", "breadcrumbs"):
        event.pop(field, None)
    for exception in (event.get("exception") or {}).get("values") or []:
        if exception.get("value"):
            exception["value"] = WITHHELD
        _drop_locals(exception)
    for thread in (event.get("threads") or {}).get("values") or []:
        _drop_locals(thread)
    longest_first = sorted(set(secrets), key=len, reverse=True)
    return _without_secrets(event, longest_first) if longest_first else event


def _drop_locals(holder: dict) -> None:
    for frame in (holder.get("stacktrace") or {}).get("frames") or []:
        frame.pop("vars", None)


def _without_secrets(value, secrets: list[str]):
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, SECRET)
        return value
    if isinstance(value, dict):
        return {_without_secrets(key, secrets): _without_secrets(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_secrets(item, secrets) for item in value]
    return value


def _tag_value(value: str) -> str:
    return " ".join(str(value).split())[:_TAG_LENGTH] or "-"

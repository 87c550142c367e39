"""The checks every export passes before it is queued or run, however it was launched.

``admit`` is called by the submission gate (``automation.gate``, the instance's run coordinator)
for every run of ``export_job`` submitted through the webserver (launchpad, GraphQL,
re-executions) or the daemon (schedules, sensors), and by ``launch.run_export`` (the command line)
before it runs an export in its own process. It decides:

- the run config holds an export request that is valid against the catalog and the limits, and
  nothing that is the deployment's (resources, the Celery broker);
- who the requester is: from the webserver, only a request token signed by the application says
  so, unless the deployment trusts unsigned submissions; the daemon (schedules and sensors of the
  deployment's own code) and the command line (a shell on the deployment) are trusted;
- the export tags (user, dataset, format) agree with the request; the gate sets them before the
  run is queued, so the per-user concurrency limit applies on every path; other ``export/`` tags
  are the deployment's and cannot be typed at the webserver;
- the user has fewer than ``EXPORT_MAX_QUEUED_PER_USER`` exports waiting;
- whether the same user asked for the same export within ``EXPORT_DEDUPE_WINDOW_SECONDS``;
- and, for the run it admits, signs its admission receipt (``receipts``), which every step checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from pydantic import ValidationError

from export_pipelines.automation.deployment_only import refuse_deployment_settings, refuse_deployment_tags
from export_pipelines.automation.typed_tags import TAG_REQUEST_TOKEN
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError, QueueFull, SettingsError, SubmissionRefused
from export_pipelines.request.model import (
    TAG_SUBSCRIPTION,  # noqa: F401 (where the gate and tests read it)
    TAG_USER,
    VALIDATE_OP,
    ExportRequest,
    canonical_digest,
    describe_problems,
)
from export_pipelines.request.validation import check_request
from export_pipelines.security.receipts import NotAdmitted, Receipt, read_receipt, sign_receipt
from export_pipelines.security.request_tokens import RequestTokenError, verify_request_token

TAG_REQUEST_DIGEST = "export/request_sha256"
TAG_SUBMITTED_VIA = "export/submitted_via"
TAG_REQUEST_JTI = "export/request_jti"
TAG_DUPLICATE_OF = "export/duplicate_of"


VIA_WEBSERVER = "webserver"
VIA_DAEMON = "daemon"
VIA_CLI = "cli"
VIA_API = "api"  # the export API of the download service (service/api/): the caller's app JWT was verified there

TRUST_UNSIGNED_ENV = "EXPORT_TRUST_UNSIGNED_SUBMISSIONS"
MAX_QUEUED_ENV = "EXPORT_MAX_QUEUED_PER_USER"
DEDUPE_WINDOW_ENV = "EXPORT_DEDUPE_WINDOW_SECONDS"
DEFAULT_MAX_QUEUED = 50
DEFAULT_DEDUPE_WINDOW = 300

WAITING = [DagsterRunStatus.QUEUED]
REUSABLE = [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS]


@dataclass(frozen=True)
class GateSettings:
    """The deployment's rules for submissions, from its environment (read at every submission)."""

    trust_unsigned: bool = False
    max_queued_per_user: int = DEFAULT_MAX_QUEUED
    dedupe_window_seconds: int = DEFAULT_DEDUPE_WINDOW

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, trust_unsigned: bool | None = None) -> GateSettings:
        """``trust_unsigned`` given (the gate's own config in dagster.yaml) wins over the environment."""
        if trust_unsigned is None:
            raw = environ.get(TRUST_UNSIGNED_ENV, "").strip().lower()
            if raw not in ("", "0", "1", "true", "false", "yes", "no"):
                raise SettingsError(f"{TRUST_UNSIGNED_ENV}={raw!r} must be 1 or 0")
            trust_unsigned = raw in ("1", "true", "yes")
        return cls(
            trust_unsigned=trust_unsigned,
            max_queued_per_user=_whole(environ, MAX_QUEUED_ENV, DEFAULT_MAX_QUEUED, minimum=1),
            dedupe_window_seconds=_whole(environ, DEDUPE_WINDOW_ENV, DEFAULT_DEDUPE_WINDOW, minimum=0),
        )


@dataclass(frozen=True)
class Admission:
    """An admitted export: its request, the tags the gate sets, and the run it repeats (if any)."""

    request: ExportRequest
    tags: dict[str, str] = field(default_factory=dict)
    duplicate_of: str | None = None


def admit(
    instance: DagsterInstance,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
    via: str,
    settings: GateSettings,
    run_id: str | None = None,
    dedupe: bool = True,
    check_fields: bool = True,
    parent_tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    root_run_id: str | None = None,
) -> Admission:
    """Admit one export run or raise SubmissionRefused (or the SettingsError of a broken deployment).

    ``via`` is where the submission came from (VIA_WEBSERVER, VIA_DAEMON, VIA_CLI, VIA_API); ``run_id`` the
    run being submitted, when it exists already (the gate). A token's one-time id is recorded on
    that run as soon as the token is verified, so a submission refused after that (queue full)
    spends its token too. ``check_fields`` False leaves the request's fields to ``validate_request``,
    the run's first step, which checks them with the same ``check_request`` before a row is read.
    ``parent_tags`` are the tags of the run a re-execution repeats, ``parent_run_id`` its id: the parent's
    receipt must name the same user and request (one re-executes only one's own export, as it was). With a
    ``run_id``, the admission's tags include the run's signed receipt (not for a duplicate, never run).
    """
    refuse_deployment_settings(run_config)
    config = request_config(run_config)
    request = parse_request(config)
    try:
        if check_fields:
            check_request(request, load_catalog())
    except ExportRequestError as error:
        raise SubmissionRefused(f"the request is not valid: {error}") from None
    export_tags = request.run_tags()
    for key, value in export_tags.items():
        if key in tags and tags[key] != value:
            raise SubmissionRefused(
                f"run tag {key}={tags[key]!r} disagrees with the request ({value!r}); the gate sets the export "
                "tags from the request: remove the tag"
            )
    if via == VIA_WEBSERVER:
        refuse_deployment_tags(instance, tags, parent_tags, parent_run_id, root_run_id)
    parent = _same_request_as_parent(request, parent_tags, parent_run_id) if parent_run_id else None
    # A retry by the daemon keeps its parent's provenance; typed tags never decide it.
    via_label = parent.via if parent is not None and via == VIA_DAEMON else _via_label(via, tags)
    gate_tags = {**export_tags, TAG_REQUEST_DIGEST: request.digest(), TAG_SUBMITTED_VIA: via_label}
    if via == VIA_WEBSERVER and not settings.trust_unsigned:
        gate_tags[TAG_REQUEST_JTI] = _spend_token(instance, tags.get(TAG_REQUEST_TOKEN), config, request, run_id)
    queued = instance.get_runs_count(RunsFilter(tags={TAG_USER: request.user}, statuses=WAITING))
    if queued >= settings.max_queued_per_user:
        raise QueueFull(
            f"user {request.user!r} already has {queued} exports waiting in the queue (the limit is "
            f"{settings.max_queued_per_user}): wait for some to finish, or cancel some, then submit again"
        )
    duplicate_of = _same_export(instance, request, gate_tags[TAG_REQUEST_DIGEST], settings, run_id) if dedupe else None
    if run_id is not None and duplicate_of is None:
        receipt = Receipt(run_id, request.user, request.dataset, request.digest(), gate_tags[TAG_SUBMITTED_VIA],
                          parent_run_id)  # fmt: skip
        gate_tags.update(sign_receipt(receipt))
    return Admission(request, gate_tags, duplicate_of)


def _same_request_as_parent(request: ExportRequest, parent_tags, parent_run_id: str) -> Receipt:
    """The parent's receipt, when it admitted the same user's same request; else SubmissionRefused.

    A re-execution loads what its parent's steps stored: only the parent's own user may re-execute
    it, with the very request it was admitted for (a new request is a new submission).
    """
    try:
        parent = read_receipt(parent_tags or {}, parent_run_id)
    except NotAdmitted:
        raise SubmissionRefused(
            f"run {parent_run_id} was never admitted by the gate, so it cannot be re-executed: submit the export "
            "as a new run"
        ) from None
    if parent.user != request.user:
        raise SubmissionRefused(
            f"run {parent_run_id} is another user's export: a re-execution repeats one's own run only; submit "
            "your export as a new run"
        )
    if parent.digest != request.digest():
        raise SubmissionRefused(
            f"a re-execution repeats run {parent_run_id} with the request it was admitted for, and this run config "
            "holds another request: re-execute without changing the config, or submit the changed export as a new run"
        )
    return parent


def request_config(run_config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The export request in a run config: the mapping under ``ops.validate_request.config``."""
    config = ((run_config.get("ops") or {}).get(VALIDATE_OP) or {}).get("config")
    if not isinstance(config, Mapping) or not config:
        raise SubmissionRefused(
            f"the run config holds no export request: put it under ops.{VALIDATE_OP}.config, for example "
            f"ops: {{{VALIDATE_OP}: {{config: {{user: analyst, dataset: orders}}}}}}"
        )
    return config


def parse_request(config: Mapping[str, Any]) -> ExportRequest:
    try:
        return ExportRequest(**config)
    except ValidationError as error:
        raise SubmissionRefused(f"the request is not valid: {describe_problems(error)}") from None
    except TypeError as error:
        raise SubmissionRefused(f"the request is not valid: {error}") from None


def _spend_token(instance, token, config, request: ExportRequest, run_id: str | None) -> str:
    """Verify the token, record its one-time id on this run, and refuse it if any other run holds that id."""
    try:
        claims = verify_request_token(token, canonical_digest(config), request.user)
    except RequestTokenError as error:
        raise SubmissionRefused(str(error)) from None
    if run_id is not None:
        instance.add_run_tags(run_id, {TAG_REQUEST_JTI: claims.jti})
    # Every run holding this id, oldest first: only the oldest may use the token, so two webservers
    # admitting the same token at once cannot both win (each tags first, then looks).
    holders = instance.get_run_records(RunsFilter(tags={TAG_REQUEST_JTI: claims.jti}), ascending=True)
    first = next((record.dagster_run.run_id for record in holders), run_id)
    if first != run_id:
        raise SubmissionRefused(
            "the request token was already used for another run (each token admits one run): submit the export "
            "from the application again (it signs a new token)"
        )
    return claims.jti


def _same_export(instance, request: ExportRequest, digest: str, settings: GateSettings, run_id) -> str | None:
    """The newest run of the same request by the same user within the window, waiting, running or done."""
    if settings.dedupe_window_seconds <= 0:
        return None
    since = datetime.now(UTC) - timedelta(seconds=settings.dedupe_window_seconds)
    records = instance.get_run_records(
        RunsFilter(tags={TAG_USER: request.user, TAG_REQUEST_DIGEST: digest}, statuses=REUSABLE, created_after=since),
        limit=5,
    )
    return next((r.dagster_run.run_id for r in records if r.dagster_run.run_id != run_id), None)


def _via_label(via: str, tags: Mapping[str, str]) -> str:
    """Where the run came from, for the record: the schedule or sensor by name when the daemon sent it."""
    if via == VIA_DAEMON:
        for kind in ("schedule", "sensor"):
            if tags.get(f"dagster/{kind}_name"):
                return f"{kind}:{tags[f'dagster/{kind}_name']}"
    return via


def _whole(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(f"{name}={raw!r} must be a whole number of {minimum} or more")
    return int(raw)

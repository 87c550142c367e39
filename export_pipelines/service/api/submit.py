"""``POST /api/v1/exports``: the body, the ``Idempotency-Key``, and the submission through the gate.

The body is ``ExportRequest`` without ``user`` (the caller is the user), checked like every other path
(the model's shapes, then ``check_request`` against the catalog and the limits) before any run exists, so
a bad field is a 422 that leaves nothing in run history. Then the run is submitted into the instance's
queue through the submission gate (``automation.api_submission``): every limit of the gate and the queue
holds. The user's queue cap is looked at first, so a caller who is over it gets 429 with ``Retry-After``
and no failed run; the gate counts again under its lock, and its ``QueueFull`` is a 429 too.

``Idempotency-Key`` (any printable text up to 255 characters, kept per user): the first request with a
key submits and answers 202; the same key with the same body answers 200 with that export; with another
body, 409. Keys are run tags (``export/idempotency_key``: a hash of user and key), set once the gate has
admitted the run, under a per-user lock, so two requests with one key cannot both submit, and a refused
submission (429) may be sent again with its key. A repeat the gate cancels (the same export asked for within
the dedupe window) answers 200 with the export it repeats.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from types import SimpleNamespace

from dagster import DagsterRunStatus, RunsFilter
from pydantic import ConfigDict, ValidationError, create_model

from export_pipelines.automation.admission import TAG_DUPLICATE_OF, GateSettings
from export_pipelines.automation.admission_lock import admission_lock
from export_pipelines.automation.api_submission import submit_export, uses_gate
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError, QueueFull, SubmissionRefused
from export_pipelines.request.model import TAG_USER, ExportRequest, canonical_digest
from export_pipelines.request.validation import check_request
from export_pipelines.service.api.identity import Caller
from export_pipelines.service.api.problems import Problem, from_pydantic, from_request_error
from export_pipelines.service.api.views import export_view

IDEMPOTENCY_HEADER = "Idempotency-Key"
TAG_IDEMPOTENCY_KEY = "export/idempotency_key"
TAG_IDEMPOTENCY_BODY = "export/idempotency_body"
RETRY_AFTER_SECONDS = 30  # about how long the daemon takes to start a few waiting exports
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

# The request model minus ``user``: the same fields, types and descriptions, so the OpenAPI schema is the model's.
ExportBody = create_model(
    "ExportRequestBody",
    __config__=ConfigDict(extra="forbid"),
    __doc__="What to export, in which format, and who hears about it; the user is the caller.",
    **{name: (field.annotation, field) for name, field in ExportRequest.model_fields.items() if name != "user"},
)


def checked_request(body, caller: Caller) -> ExportRequest:
    """The caller's request from the body, checked against the catalog and the limits; a 422 naming each field."""
    try:
        request = ExportRequest(**body.model_dump(exclude_unset=True), user=caller.user)
    except ValidationError as error:
        raise from_pydantic(error.errors()) from None
    try:
        check_request(request, load_catalog())
    except ExportRequestError as error:
        raise from_request_error(error) from None
    return request


def submit(service, caller: Caller, body, key: str | None) -> tuple[int, dict]:
    """(HTTP status, the export's view): 202 for a new export, 200 for the one a key or the dedupe window repeats."""
    request = checked_request(body, caller)
    if key is None:
        return submit_checked(service, caller, request)
    if not _KEY.match(key):
        allowed = "1 to 255 printable ASCII characters, no spaces"
        entry = {"field": IDEMPOTENCY_HEADER, "detail": "is not valid", "allowed": allowed}
        raise Problem(422, "invalid_request", f"{IDEMPOTENCY_HEADER} is not valid", [entry])
    key_tag = hashlib.sha256(f"{caller.user}\0{key}".encode()).hexdigest()[:32]
    body_digest = canonical_digest(body.model_dump(mode="json", exclude_unset=True))
    with admission_lock(service.instance, f"api-idempotency:{caller.user}"):  # ':' is in no user name
        earlier = service.instance.get_run_records(
            RunsFilter(tags={TAG_USER: caller.user, TAG_IDEMPOTENCY_KEY: key_tag}), limit=1
        )
        if earlier:
            if earlier[0].dagster_run.tags.get(TAG_IDEMPOTENCY_BODY) != body_digest:
                raise Problem(409, "idempotency_conflict", f"this {IDEMPOTENCY_HEADER} was used for another request "
                              "body: use a new key for a new export")  # fmt: skip
            return 200, _answer(service, earlier[0].dagster_run)[1]
        _require_gate(service)
        run = _submit(service, request, caller.tags())
        service.instance.add_run_tags(run.run_id, {TAG_IDEMPOTENCY_KEY: key_tag, TAG_IDEMPOTENCY_BODY: body_digest})
    return _answer(service, run)


def submit_checked(service, caller: Caller, request: ExportRequest, tags: dict | None = None) -> tuple[int, dict]:
    """Submit a checked request through the gate with the caller's tags (and ``tags``); (status, view)."""
    _require_gate(service)
    return _answer(service, _submit(service, request, {**caller.tags(), **(tags or {})}))


def _require_gate(service) -> None:
    if not uses_gate(service.instance):
        raise Problem(503, "not_configured", "this deployment's Dagster instance does not queue runs through the "
                      "submission gate, so the API cannot submit: its operator sets it as run_coordinator")  # fmt: skip


def _submit(service, request: ExportRequest, tags: dict):
    settings = GateSettings.from_env()
    waiting = service.instance.get_runs_count(RunsFilter(tags={TAG_USER: request.user},
                                                         statuses=[DagsterRunStatus.QUEUED]))  # fmt: skip
    try:
        if waiting >= settings.max_queued_per_user:
            raise QueueFull(f"user {request.user!r} already has {waiting} exports waiting in the queue (the limit is "
                            f"{settings.max_queued_per_user}): wait for some to finish, or cancel some, then submit "
                            "again")  # fmt: skip
        return submit_export(service.instance, request, tags)
    except QueueFull as error:
        raise Problem(429, "queue_full", error.reason, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    except SubmissionRefused as error:
        raise Problem(422, "refused", error.reason) from None


def _answer(service, run) -> tuple[int, dict]:
    original = run.tags.get(TAG_DUPLICATE_OF) if run.status == DagsterRunStatus.CANCELED else None
    if original is None and run.status == DagsterRunStatus.QUEUED:  # just queued: no need to read it back
        fresh = SimpleNamespace(dagster_run=run, create_timestamp=datetime.now(UTC), start_time=None, end_time=None)
        return 202, export_view(service, fresh, fresh=True)
    records = service.instance.get_run_records(RunsFilter(run_ids=[original or run.run_id]), limit=1)
    return (200 if original else 202), export_view(service, records[0], fresh=True)

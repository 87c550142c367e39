"""``/api/v1/exports``: submit, list, read, cancel, link, and estimate the caller's exports.

Only the caller's own exports exist for them: another user's id answers 404, as an unknown one does.
Lists are newest first, ``limit`` at a time; ``next_cursor`` (the last id of the page) asks for the next.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from dagster import RunsFilter
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from export_pipelines.automation.gate import EXPORT_JOB
from export_pipelines.delivery.exports import is_revoked
from export_pipelines.delivery.links import mint_link, parse_ttl
from export_pipelines.delivery.refusals import Gone
from export_pipelines.observability.audit import audit_record_for_run
from export_pipelines.request.model import TAG_DATASET, TAG_USER
from export_pipelines.service.api import estimate as estimates
from export_pipelines.service.api.history import newest_runs
from export_pipelines.service.api.identity import Caller, caller
from export_pipelines.service.api.models import Estimate, Export, ExportList, Link
from export_pipelines.service.api.problems import GuardedRoute, Problem
from export_pipelines.service.api.submit import IDEMPOTENCY_HEADER, ExportBody, submit
from export_pipelines.service.api.views import STATUS, STATUSES, dagster_statuses, export_view

router = APIRouter(prefix="/exports", tags=["exports"], route_class=GuardedRoute)
TAG_CANCELED_BY = "export/canceled_by"
Status = Literal[STATUSES]


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl: str | None = Field(None, description="How long the link works, e.g. 90s, 15m, 12h, 7d, P7D; default "
                            "EXPORT_LINK_TTL (7d); never past the file's expiry.")  # fmt: skip


@router.post("", status_code=202, response_model=Export, summary="Submit an export: queued through the gate")
def create_export(body: ExportBody, request: Request, response: Response, who: Caller = Depends(caller),
                  idempotency_key: str | None = Header(None, alias=IDEMPOTENCY_HEADER)) -> dict:  # fmt: skip
    status, view = submit(request.app.state.service, who, body, idempotency_key)
    response.status_code = status
    response.headers["Location"] = view["status_url"]
    who.note("submitted", view["id"])
    return view


@router.post(
    "/estimate",
    response_model=Estimate,
    summary="Rows the caller would get, an estimated size and time; nothing is run",
)
def estimate(body: ExportBody, request: Request, who: Caller = Depends(caller)) -> dict:
    return estimates.estimate(request.app.state.service, who, body)


@router.get("", response_model=ExportList, summary="The caller's exports, newest first")
def list_exports(request: Request, who: Caller = Depends(caller), status: Status | None = None,
                 dataset: str | None = Query(None, max_length=128), limit: int = Query(20, ge=1, le=100),
                 cursor: str | None = Query(None, max_length=64)) -> dict:  # fmt: skip
    return caller_exports(request.app.state.service, who, status, dataset, limit, cursor)


def caller_exports(service, who: Caller, status: str | None = None, dataset: str | None = None, limit: int = 20,
                   cursor: str | None = None) -> dict:  # fmt: skip
    """A page of the caller's exports, newest first (the API's list and the pages' "My exports")."""
    tags = {TAG_USER: who.user, **({TAG_DATASET: dataset} if dataset else {})}
    filters = RunsFilter(job_name=EXPORT_JOB, tags=tags, **({"statuses": dagster_statuses(status)} if status else {}))
    if cursor is not None:
        own_export(service, who, cursor, field="cursor")
    records = newest_runs(service.instance, filters, limit, cursor)
    items = [export_view(service, record, fresh=STATUS.get(record.dagster_run.status) in ("queued", "running"))
             for record in records]  # fmt: skip
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


@router.get(
    "/{export_id}",
    response_model=Export,
    summary="One export: status, progress, rows, error, download_url once succeeded",
)
def get_export(export_id: str, request: Request, who: Caller = Depends(caller)) -> dict:
    return export_view(request.app.state.service, own_export(request.app.state.service, who, export_id))


@router.post("/{export_id}/cancel", response_model=Export, summary="Cancel a queued or running export")
def cancel_export(export_id: str, request: Request, who: Caller = Depends(caller)) -> dict:
    return cancel(request.app.state.service, who, export_id)


def cancel(service, who: Caller, export_id: str) -> dict:
    """Cancel the caller's queued or running export; 409 once it has ended."""
    record = own_export(service, who, export_id)
    status = STATUS.get(record.dagster_run.status)
    if status not in ("queued", "running"):
        raise Problem(409, "finished", f"export {export_id} is {status} already: there is nothing to cancel")
    service.instance.add_run_tags(export_id, {TAG_CANCELED_BY: who.actor})
    service.instance.run_coordinator.cancel_run(export_id)
    who.note("canceled", export_id)
    return export_view(service, own_export(service, who, export_id))


@router.post(
    "/{export_id}/links",
    status_code=201,
    response_model=Link,
    summary="A fresh download link, never past the file's expiry",
)
def new_link(export_id: str, request: Request, body: LinkBody | None = None, who: Caller = Depends(caller)) -> dict:
    return fresh_link(request.app.state.service, who, export_id, body.ttl if body else None)


def fresh_link(service, who: Caller, export_id: str, ttl_text: str | None = None) -> dict:
    """A new download link for the caller's succeeded export, never past the file's expiry."""
    run = own_export(service, who, export_id).dagster_run
    if STATUS.get(run.status) != "succeeded":
        raise Problem(409, "not_ready", f"export {export_id} has no file (it is {STATUS.get(run.status)}): ask for a "
                      "link once it has succeeded")  # fmt: skip
    record = audit_record_for_run(service.instance, export_id)
    if is_revoked(run.tags) or record.deleted_at or not record.file_key:
        raise Problem(410, "gone", "the file of this export was withdrawn or deleted: submit the export again")
    try:
        ttl = parse_ttl(ttl_text) if ttl_text else None
    except ValueError as error:
        raise Problem(422, "invalid_request", "ttl is not valid", [{"field": "ttl", "detail": str(error)}]) from None
    expires = datetime.fromisoformat(record.expires_at) if record.expires_at else None
    try:
        link = mint_link(run_id=export_id, file_key=record.file_key, owner=record.user or who.user,
                         file_expires_at=expires, ttl=ttl, now=service.now(), environ=service.environ)  # fmt: skip
    except Gone as refusal:
        raise Problem(410, "gone", f"{refusal.message}: submit the export again") from None
    who.note("linked", export_id)
    return {"url": link.url, "expires_at": link.expires_at.isoformat()}


def own_export(service, who: Caller, export_id: str, field: str | None = None):
    """The run record of the caller's export ``export_id``; 404 (or 422 for a cursor) when it is not theirs."""
    records = service.instance.get_run_records(
        RunsFilter(run_ids=[export_id], job_name=EXPORT_JOB, tags={TAG_USER: who.user}), limit=1
    )
    if records:
        return records[0]
    if field:
        raise Problem(
            422,
            "invalid_request",
            f"{field} is not valid",
            [{"field": field, "detail": "is not a cursor this API gave you", "allowed": "next_cursor"}],
        )
    raise Problem(404, "not_found", f"you have no export {export_id}: list yours with GET /api/v1/exports")

"""An export as the API shows it to its owner: one dict, built from the run record, its events and its audit record.

``status`` is one of five words, whatever Dagster's run status: ``queued`` (not started: in the queue, or
waiting for the user's running limit), ``running``, ``succeeded``, ``failed``, ``canceled``. ``progress``
is the live status's (``service.live``): one percentage over the whole run, the rows done, the phase.
``rows_withheld`` says whether the caller's grants withheld rows (and ``rows_withheld_band`` a coarse band
where the deployment allows it), never how many: the exact count is other tenants' data. ``error`` is
``{reason, what_to_do}``, in words from the failed step, never a traceback. ``download_url`` is a fresh
link, minted at each read, once the file is there. ``skipped`` says why a succeeded export has no file: a
subscription's tick without rows, when the subscription skips empty exports.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import DagsterRunStatus

from export_pipelines.automation.admission import TAG_DUPLICATE_OF, TAG_SUBMITTED_VIA
from export_pipelines.delivery.exports import is_revoked
from export_pipelines.delivery.links import mint_link, mint_status_token, public_url
from export_pipelines.delivery.refusals import Gone
from export_pipelines.observability.audit import audit_record_of
from export_pipelines.request.model import TAG_DATASET, TAG_FORMAT, TAG_SKIPPED
from export_pipelines.service import live
from export_pipelines.service.api.identity import TAG_ACTED_BY

STATUS = {
    DagsterRunStatus.NOT_STARTED: "queued", DagsterRunStatus.QUEUED: "queued",
    DagsterRunStatus.STARTING: "running", DagsterRunStatus.STARTED: "running", DagsterRunStatus.CANCELING: "running",
    DagsterRunStatus.SUCCESS: "succeeded", DagsterRunStatus.FAILURE: "failed", DagsterRunStatus.CANCELED: "canceled",
}  # fmt: skip
STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
_REFUSED_REQUEST = "The request was refused"


def dagster_statuses(status: str) -> list[DagsterRunStatus]:
    return [dagster for dagster, shown in STATUS.items() if shown == status]


def export_view(service, record, fresh: bool = False) -> dict:
    """The export of a run record; ``fresh``: with the URLs of a status token (events, page), as after a submit."""
    run = record.dagster_run
    status = STATUS.get(run.status, "failed")
    base = public_url(service.environ)
    view = {
        "id": run.run_id, "status": status, "dataset": run.tags.get(TAG_DATASET), "format": run.tags.get(TAG_FORMAT),
        "created_at": _iso(record.create_timestamp), "started_at": _iso(record.start_time),
        "finished_at": _iso(record.end_time), "submitted_via": run.tags.get(TAG_SUBMITTED_VIA),
        "progress": None, "rows": None, "bytes": None, "rows_withheld": None, "error": None, "download_url": None,
        "status_url": f"{base}/api/v1/exports/{run.run_id}",
    }  # fmt: skip
    if run.tags.get(TAG_ACTED_BY):
        view["acted_by"] = run.tags[TAG_ACTED_BY]
    if fresh:
        view.update(status_urls(service, run.run_id, run.tags.get("export/user", "")))
    if status == "queued":
        view["progress"] = {"percent": 0, "rows": 0, "phase": "queued"}
    elif status == "running":
        events, _ = live.read_events(service.instance, run.run_id, None, dict)
        state = live.summary(run.run_id, events)
        view["progress"] = {"percent": state["overall"], "rows": state["rows"], "phase": state["state"]}
    elif status == "canceled":
        view["error"] = _canceled(run)
    else:
        _finished(service, record, view)
    return view


def status_urls(service, run_id: str, owner: str) -> dict:
    """Where to follow one export without the API's bearer token: the WebSocket and the page (a status token)."""
    token = mint_status_token(run_id=run_id, owner=owner, now=service.now(), environ=service.environ).token
    base = public_url(service.environ)
    events = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return {"events_url": f"{events}/exports/{run_id}/events?token={token}", "page_url": f"{base}/d/{token}"}


def _finished(service, run_record, view: dict) -> None:
    run = run_record.dagster_run
    record = audit_record_of(service.instance, run_record)
    view.update(rows=record.rows, bytes=record.bytes, rows_withheld=record.rows_withheld)
    if record.rows_withheld_band:
        view["rows_withheld_band"] = record.rows_withheld_band
    if run.status == DagsterRunStatus.FAILURE:
        view["error"] = _failed(service, run, record)
        return
    view["progress"] = {"percent": 100, "rows": record.rows, "phase": "succeeded"}
    view["expires_at"] = record.expires_at
    if run.tags.get(TAG_SKIPPED):  # a subscription's tick without rows: no file, no mail (run.ops.empty)
        view.update(rows=0, skipped=run.tags[TAG_SKIPPED])
        return
    if record.file_key and not record.deleted_at and not is_revoked(run.tags):
        expires = datetime.fromisoformat(record.expires_at) if record.expires_at else None
        try:
            view["download_url"] = mint_link(
                run_id=run.run_id,
                file_key=record.file_key,
                owner=record.user or "",
                file_expires_at=expires,
                now=service.now(),
                environ=service.environ,
            ).url
        except Gone:  # the file expired: no link, and expires_at says when
            pass


def _failed(service, run, record) -> dict:
    reason = live.failure_reason(service.instance, run.run_id)
    if reason.startswith("The export failed before any of its steps ran") and record.error:
        reason = "The export was refused or stopped before it started: " + record.error.removeprefix("run: ")
    if reason.startswith(_REFUSED_REQUEST):
        what = "change what the reason names and submit the export again"
    else:
        what = f"submit the export again; if it fails again, tell an administrator its id ({run.run_id})"
    return {"reason": reason, "what_to_do": what}


def _canceled(run) -> dict:
    original = run.tags.get(TAG_DUPLICATE_OF)
    if original:
        return {"reason": f"The same export was asked for shortly before, as export {original}",
                "what_to_do": f"use export {original}: GET /api/v1/exports/{original}"}  # fmt: skip
    return {"reason": "The export was canceled", "what_to_do": "submit it again if you still need the file"}


def _iso(moment: datetime | float | None) -> str | None:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(moment, UTC).isoformat() if moment else None

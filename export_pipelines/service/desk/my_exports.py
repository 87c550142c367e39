"""My exports: every export of the signed-in user, newest first, with live progress and what can be done to it.

The page shows what the API's ``GET /api/v1/exports`` gives (``service.api.exports.caller_exports``: the same
view of each run, the same cursor paging and status filter), so the two never disagree. Running exports
carry their status token's WebSocket (``desk.js`` moves their bars and reloads the page when one ends).
Each action is a POST form with the session's CSRF secret and does what the API's endpoint does: cancel,
a fresh link (shown on a page of its own, with both expiries), run again (the same request, through the
gate, checked against today's catalog and grants). ``GET /exports/<id>`` is the export's own page: its
live progress, then its download.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.errors import ExportRequestError
from export_pipelines.request.model import request_from_run_config
from export_pipelines.request.validation import check_request
from export_pipelines.service.api.exports import caller_exports, cancel, fresh_link, own_export
from export_pipelines.service.api.problems import Problem, from_request_error
from export_pipelines.service.api.submit import submit_checked
from export_pipelines.service.api.views import STATUSES, status_urls
from export_pipelines.service.desk.guard import refused, signed_in
from export_pipelines.service.desk.render import page

PAGE_SIZE = 25
NOTICES = {
    "submitted": "Your export was submitted. It starts as soon as a place is free.",
    "repeated": "The same export was asked for a moment ago: this is that one.",
    "canceled": "The export was canceled.",
}


class MyExports:
    """The "My exports" routes of one DownloadService."""

    def __init__(self, service):
        self.service = service

    def routes(self) -> list[Route]:
        guarded = partial(signed_in, self.service)
        return [
            Route("/exports", guarded(self.list), methods=["GET"]),
            Route("/exports/{export_id}", guarded(self.show), methods=["GET"]),
            Route("/exports/{export_id}/cancel", guarded(self.cancel), methods=["POST"]),
            Route("/exports/{export_id}/links", guarded(self.link), methods=["POST"]),
            Route("/exports/{export_id}/again", guarded(self.again), methods=["POST"]),
        ]

    def list(self, request: Request, session, form) -> Response:
        status = request.query_params.get("status") or None
        if status not in (None, *STATUSES):
            status = None
        cursor = request.query_params.get("cursor") or None
        try:
            listed = caller_exports(self.service, session.caller, status, None, PAGE_SIZE, cursor)
        except Problem:  # a cursor that is not one of the user's exports: start from the newest
            listed = caller_exports(self.service, session.caller, status, None, PAGE_SIZE, None)
        older = None
        if listed["next_cursor"]:
            older = "/exports?" + urlencode({**({"status": status} if status else {}), "cursor": listed["next_cursor"]})
        notice = NOTICES.get(request.query_params.get("notice", ""))
        items = [_shown(item) for item in listed["items"]]
        return page(request, "exports.html", session, title="My exports", current="exports", items=items,
                    status=status, statuses=STATUSES, older=older, notice=notice)  # fmt: skip

    def show(self, request: Request, session, form) -> Response:
        export_id = request.path_params["export_id"]
        try:
            own_export(self.service, session.caller, export_id)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        urls = status_urls(self.service, export_id, session.user)
        return RedirectResponse(_path(urls["page_url"]), status_code=303)

    def cancel(self, request: Request, session, form) -> Response:
        try:
            cancel(self.service, session.caller, request.path_params["export_id"])
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        return RedirectResponse("/exports?notice=canceled", status_code=303)

    def link(self, request: Request, session, form) -> Response:
        export_id = request.path_params["export_id"]
        try:
            link = fresh_link(self.service, session.caller, export_id)
            record = own_export(self.service, session.caller, export_id)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        return page(request, "link.html", session, title="A new download link", current="exports",
                    export_id=export_id, url=link["url"], path=_path(link["url"]), link_expires=link["expires_at"],
                    dataset=record.dagster_run.tags.get("export/dataset"))  # fmt: skip

    def again(self, request: Request, session, form) -> Response:
        try:
            record = own_export(self.service, session.caller, request.path_params["export_id"])
            earlier = request_from_run_config(record.dagster_run.run_config)
            request_again = earlier.model_copy(update={"user": session.user})
            try:
                check_request(request_again, load_catalog())
            except ExportRequestError as error:
                raise from_request_error(error) from None
            status, _ = submit_checked(self.service, session.caller, request_again)
        except Problem as problem:
            return refused(request, session, problem.detail, problem.status)
        notice = "submitted" if status == 202 else "repeated"
        return RedirectResponse(f"/exports?notice={notice}", status_code=303)


def _shown(item: dict) -> dict:
    """An export as the page lists it: paths on this site instead of the public URLs (the page is on this site)."""
    shown = dict(item)
    for name in ("download_url", "page_url", "events_url"):
        shown[name] = _path(shown[name]) if shown.get(name) else None
    return shown


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")

"""What every page of the desk does before its own work: find the signed-in user, check a form, catch refusals.

A page is a plain function ``(request, session, form) -> Response`` (``form``: the POST's form, or its JSON
object when a page's script sends one; None for a GET) run in the thread pool (it reads the
Dagster instance and the source database, which block). ``signed_in`` wraps it into a Starlette endpoint:
no session sends the browser to the sign-in page (303, coming back to where it was); a POST whose form
lacks the session's CSRF secret, or that comes from another site, is a 403 page that changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from export_pipelines.service.desk.render import page
from export_pipelines.service.desk.session import CsrfRefused, Session, check_form, current_session

Handler = Callable[[Request, Session, Mapping | None], Response]


def local_path(target: str | None, default: str = "/exports") -> str:
    """``target`` if it is a path on this site (``/...``, never ``//host`` or ``/\\host``), else ``default``."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return default


def signed_in(service, handler: Handler):
    """The Starlette endpoint of a page that needs a signed-in user (every page but the sign-in's)."""

    async def endpoint(request: Request) -> Response:
        session = current_session(request, service.now(), service.environ)
        if session is None:
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target = wanted if request.method == "GET" else "/exports"
            return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)
        form = None
        if request.method == "POST":
            form = await _body(request)
            try:
                check_form(request, form, session)
            except CsrfRefused as refusal:
                return refused(request, session, str(refusal))
        return await run_in_threadpool(handler, request, session, form)

    return endpoint


async def _body(request: Request) -> Mapping:
    """A POST's form, or its JSON object (what a page's script sends); an empty mapping for anything else."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    return await request.form(max_files=1, max_fields=400)


def refused(request: Request, session: Session | None, message: str, status: int = 403) -> Response:
    return page(request, "message.html", session, status_code=status, title="Not done", message=message)

"""Live status over HTTP: ``GET /exports/<run_id>/status`` (JSON), the WebSocket ``/exports/<run_id>/events``,
and the page of an export that is still running.

Both endpoints take the token as ``?token=`` (a browser cannot put headers on a WebSocket, and
``Authorization`` is the sign-in token's when login is required). A status token (audience
``export-status``) or the export's download link are accepted, nothing else, and only for the run
they name. The WebSocket sends one JSON message per event (see ``live``), then closes after
``succeeded`` or ``failed``; a client that reconnects with ``?after=<cursor>`` gets only what it missed.
A refused handshake is an HTTP answer (401, 403, 404, 410) with the same JSON body as the status
endpoint's, where the server supports it (uvicorn does); otherwise the socket closes with 1008.
"""

from __future__ import annotations

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from export_pipelines.delivery.exports import is_revoked
from export_pipelines.delivery.links import AUDIENCE, StatusClaims, mint_link, public_url, status_claims
from export_pipelines.delivery.refusals import Forbidden, Gone, InvalidLink, Refusal, UnknownExport
from export_pipelines.service import live, pages

_NO_STORE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
             "X-Content-Type-Options": "nosniff"}  # fmt: skip


class StatusRoutes:
    """The status endpoints of one DownloadService (its instance, clock, settings, login and signer)."""

    def __init__(self, service):
        self.service = service

    def routes(self) -> list:
        return [
            Route("/exports/{run_id}/status", self.status, methods=["GET"]),
            WebSocketRoute("/exports/{run_id}/events", self.events),
            Route(pages.SCRIPT_PATH, self.script, methods=["GET"]),
        ]

    async def status(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            token = request.query_params.get("token")
            claims = await run_in_threadpool(self._authorize, request, run_id, token)
            events, _ = await run_in_threadpool(self._read, claims, token, None)
        except Refusal as refusal:
            return _refusal_json(refusal)
        return JSONResponse(live.summary(run_id, events), headers=_NO_STORE)

    async def events(self, websocket: WebSocket) -> None:
        run_id = websocket.path_params["run_id"]
        token = websocket.query_params.get("token")
        try:
            claims = await run_in_threadpool(self._authorize, websocket, run_id, token)
        except Refusal as refusal:
            if "websocket.http.response" in websocket.scope.get("extensions", {}):
                await websocket.send_denial_response(_refusal_json(refusal))
            else:
                await websocket.close(code=1008, reason=refusal.reason)
            return
        await websocket.accept()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_until_disconnected, websocket, group.cancel_scope)
                await self._push(websocket, claims, token, live.parse_cursor(websocket.query_params.get("after")))
                group.cancel_scope.cancel()
            await websocket.close(code=1000)
        except (WebSocketDisconnect, RuntimeError, OSError):  # the client went away between two sends
            pass

    async def page(self, request: Request, token: str) -> Response:
        """The page behind a status token: progress while the run works, the download once it is done.

        A token that is refused raises its Refusal, for the caller to record and answer.
        """
        claims = await run_in_threadpool(self._authorize, request, None, token)
        events, _ = await run_in_threadpool(self._read, claims, token, None)
        state = live.summary(claims.run_id, events)
        if state["state"] == "succeeded" and state.get("page"):
            return RedirectResponse(state["page"], status_code=303, headers=_NO_STORE)
        if state["state"] == "failed":
            refusal = Refusal(state.get("reason") or "the export failed", "failed")
            refusal.title, refusal.status = "The export failed", 200
            return _refusal_page(request, refusal)
        html = pages.progress_page(claims.run_id, token, state)
        return HTMLResponse(html, headers=pages.LIVE_SECURITY_HEADERS)

    async def script(self, request: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
        return Response(pages.LIVE_SCRIPT, media_type="text/javascript", headers=headers)

    async def _push(self, websocket: WebSocket, claims: StatusClaims, token: str, cursor: int | None) -> None:
        """Poll the event log and send what is new until the export ends; a finished run is read once more."""
        while True:
            status, _ = await run_in_threadpool(live.run_status, self.service.instance, claims.run_id)
            events, cursor = await run_in_threadpool(self._read, claims, token, cursor)
            for event in events:
                await websocket.send_json(event.as_dict())
                if event.event in live.TERMINAL:
                    return
            if status in live.FINISHED:  # seen before the read: its last event was in it, or sent before
                return
            await anyio.sleep(live.POLL_SECONDS)

    def _authorize(self, connection: HTTPConnection, run_id: str | None, token: str | None) -> StatusClaims:
        if not token:
            raise InvalidLink("a status token or download link is needed: add ?token=<token> to the address")
        claims = status_claims(token, self.service.now(), self.service.environ)
        if run_id is not None and claims.run_id != run_id:
            raise Forbidden("this token is for another export", "forbidden")
        if self.service.login is not None:
            self.service._signed_in(connection, claims)
        run = self.service.instance.get_run_by_id(claims.run_id)
        if run is None:
            raise UnknownExport("no export matches this token: it may belong to another deployment")
        if is_revoked(run.tags):
            raise Gone("this export was withdrawn by its owner or an administrator: ask them for a new one", "revoked")
        return claims

    def _read(self, claims: StatusClaims, token: str, cursor: int | None):
        def finished() -> dict:
            return self._finished(claims, token)

        try:
            return live.read_events(self.service.instance, claims.run_id, cursor, finished)
        except live.UnknownRun:
            raise UnknownExport("no export matches this token: it may have been deleted") from None

    def _finished(self, claims: StatusClaims, token: str) -> dict:
        """The download of a run that succeeded: the link itself, or a fresh link for the status token's owner."""
        from datetime import datetime

        from export_pipelines.observability.audit import audit_record_for_run

        record = audit_record_for_run(self.service.instance, claims.run_id)
        facts = {"rows": record.rows, "expires_at": record.expires_at}
        if not record.file_key:
            return facts
        if claims.audience != AUDIENCE or claims.file_key != record.file_key:  # a status token: mint a link
            expires = datetime.fromisoformat(record.expires_at) if record.expires_at else None
            try:
                token = mint_link(
                    run_id=record.run_id,
                    file_key=record.file_key,
                    owner=record.user or claims.owner,
                    file_expires_at=expires,
                    now=self.service.now(),
                    environ=self.service.environ,
                ).token
            except Gone:
                return facts  # fmt: skip
        link = f"{public_url(self.service.environ)}/d/{token}"
        return {**facts, "link": link, "page": f"/d/{token}", "download": f"/d/{self.service.signer.href(token)}"}


async def _until_disconnected(websocket: WebSocket, scope: anyio.CancelScope) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
    scope.cancel()


def _refusal_json(refusal: Refusal) -> JSONResponse:
    body = {"error": refusal.reason, "status": refusal.status, "message": refusal.message}
    return JSONResponse(body, status_code=refusal.status, headers=_NO_STORE)


def _refusal_page(request: Request, refusal: Refusal) -> Response:
    from export_pipelines.service.app import refusal_response

    return refusal_response(request, refusal)

"""The download service: a Starlette app that turns a signed link into the export's page and its file.

Routes, and nothing else (every other path, a trailing slash included, is a 404 that reads nothing):

- ``GET /d/<token>``: the export's page (facts and a download button), or a page saying why not;
- ``GET|HEAD /d/<token>/file``: the file, decrypted on the fly, whole (200) or one range (206);
- ``GET /d/<token>/go``: 303 to a URL the deployment's signer mints on the click (``signers``);
- ``GET /exports/<run_id>/status``, WebSocket ``/exports/<run_id>/events``: live status (``status_routes``);
- ``/api/v1/...``: the export API of the application and its users (FastAPI, mounted; ``service/api/``);
- ``/signin``, ``/exports`` and the other pages of the desk, where users ask for and manage exports (``service/desk/``).

A status token opens ``/d/<token>`` too: progress while the export runs, then its download. The only storage key ever
read is the verified token's ``file_key``, once it equals the run's. Files are decrypted a few MiB at a time in
Starlette's thread pool (a range: only its segments). Downloads and refusals are recorded.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import anyio
from dagster import DagsterInstance
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from export_pipelines.delivery.download_log import DownloadAttempt, record_attempt
from export_pipelines.delivery.exports import DownloadableExport, resolve
from export_pipelines.delivery.links import TOKEN_SHAPE, LinkClaims, verify_link
from export_pipelines.delivery.refusals import Forbidden, Gone, LoginRequired, NotReadable, Refusal, UnknownExport
from export_pipelines.delivery.signers import signer_from_env
from export_pipelines.observability.monitoring import DOWNLOAD_SERVICE, init_error_tracking
from export_pipelines.security.app_tokens import AppIdentity, AppTokenError, AppTokenVerifier
from export_pipelines.security.streaming_aead import DecryptionError
from export_pipelines.service import pages
from export_pipelines.service.access_log import redact
from export_pipelines.service.api import PREFIX, create_api
from export_pipelines.service.desk import desk_routes
from export_pipelines.service.ranges import Unsatisfiable, content_range, requested_range
from export_pipelines.service.status_routes import StatusRoutes
from export_pipelines.service.streams import RecordedStream, blocks
from export_pipelines.storage import FileAttributes
from export_pipelines.storage.encrypted import EncryptedStorage

logger = logging.getLogger(__name__)


class DownloadService:
    """The routes' shared state: where runs and files are, the clock, and the login policy."""

    def __init__(
        self,
        instance: DagsterInstance,
        storage: EncryptedStorage,
        now: Callable[[], datetime],
        environ: Mapping[str, str],
    ):
        self.instance = instance
        self.storage = storage
        self.now = now
        self.environ = environ
        self.login = AppTokenVerifier.from_env(environ)  # a bad setting stops the service at start
        self.signer = signer_from_env(environ)  # so does a signer that cannot sign
        self.status = StatusRoutes(self)

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            try:
                claims, export, identity = await run_in_threadpool(self._authorize, request, token)
            except Forbidden as refusal:
                if refusal.reason != "wrong_audience":
                    raise
                return await self.status.page(request, token)  # a status token: progress, then the download
        except Refusal as refusal:
            await self._record(request, "page", refusal.status, refusal.reason, refusal.claims)
            return refusal_response(request, refusal)
        page = pages.export_page(export, token, self.signer.href(token), claims.expires_at)
        return HTMLResponse(page, headers=pages.SECURITY_HEADERS)

    async def go(self, request: Request) -> Response:
        """The button of a deployment with a CDN or S3 signer: sign now, for minutes, and redirect (303)."""
        token = request.path_params["token"]
        try:
            claims, export, identity = await run_in_threadpool(self._authorize, request, token)
            url = await run_in_threadpool(self.signer.sign, export, token, claims.expires_at, self.now())
        except Refusal as refusal:
            await self._record(request, "go", refusal.status, refusal.reason, refusal.claims)
            return refusal_response(request, refusal)
        await self._record(request, "go", 303, f"signed:{self.signer.name}", claims, identity)
        headers = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
        return RedirectResponse(url, status_code=303, headers=headers)

    async def file(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claims, export, identity = await run_in_threadpool(self._authorize, request, token)
            wanted = requested_range(request.headers.get("range"), request.headers.get("if-range"), export.size,
                                     export.etag)  # fmt: skip
        except Refusal as refusal:
            await self._record(request, "file", refusal.status, refusal.reason, refusal.claims)
            return refusal_response(request, refusal)
        except Unsatisfiable as error:
            await self._record(request, "file", 416, "unsatisfiable", claims, identity)
            unsatisfiable = {"Content-Range": f"bytes */{error.size}", "ETag": export.etag, "Accept-Ranges": "bytes"}
            return Response(status_code=416, headers={**unsatisfiable, "Cache-Control": "private, no-store"})
        start, end = wanted or (0, export.size)
        headers = {**_file_headers(export), "Content-Length": str(end - start)}
        status = 200 if wanted is None else 206
        if wanted is not None:
            headers["Content-Range"] = content_range(start, end, export.size)
        served = headers.get("Content-Range")
        if request.method == "HEAD":
            await self._record(request, "file", status, "head", claims, identity, served)
            return Response(status_code=status, headers=headers)
        try:
            blocks = await run_in_threadpool(self._open, export, start, end)
        except Refusal as refusal:
            await self._record(request, "file", refusal.status, refusal.reason, claims, identity)
            return refusal_response(request, refusal)

        async def finished(sent: int) -> None:
            outcome = "interrupted" if sent < end - start else "partial" if wanted else "complete"
            await self._record(request, "file", status, outcome, claims, identity, served, sent)

        return RecordedStream(blocks, finished, status_code=status, headers=headers)

    def _authorize(self, request: Request, token: str) -> tuple[LinkClaims, DownloadableExport, AppIdentity | None]:
        """Link, then sign-in, then the export: each refusal says which check failed."""
        if not TOKEN_SHAPE.match(token):
            raise UnknownExport("there is no download here: check that the whole link was copied", "unknown")
        claims = verify_link(token, self.now(), self.environ)
        identity = None
        try:
            if self.login is not None:
                identity = self._signed_in(request, claims)
            export = resolve(self.instance, self.storage, claims, self.now())
        except Refusal as refusal:
            refusal.claims = claims  # recorded with the refusal: the link itself was genuine
            raise
        return claims, export, identity

    def _signed_in(self, request: Request, claims: LinkClaims) -> AppIdentity:
        try:
            identity = self.login.verify(request.headers.get("authorization"))
        except AppTokenError as error:
            raise LoginRequired(str(error)) from None
        if identity.user != claims.owner and not identity.is_admin:
            raise Forbidden("this export belongs to another user: sign in as its owner, or ask them to share it")
        return identity

    def _open(self, export: DownloadableExport, start: int, end: int) -> Iterator[bytes]:
        """The first block is decrypted here, before any header is sent, so a damaged file is an error page."""
        chunks = self.storage.open_range(export.file_key, start, end, key_id=export.key_id)
        try:
            first = next(chunks, b"")
        except FileNotFoundError:
            raise Gone("the file of this export was deleted: re-run the export to get a new one", "deleted") from None
        except DecryptionError:
            logger.error("run %s: the stored file %s does not decrypt", export.run_id, export.file_key)
            raise NotReadable("the stored file is damaged or its key is gone: re-run the export") from None
        return blocks(itertools.chain([first], chunks))

    async def _record(self, request: Request, what, status, outcome, claims=None, identity=None, served=None, sent=0):
        attempt = DownloadAttempt(
            at=self.now().isoformat(),
            status=status,
            outcome=outcome,
            what=what,
            run_id=claims.run_id if claims else None,
            owner=claims.owner if claims else None,
            user=identity.user if identity else None,
            link_id=claims.token_id if claims else None,
            client=request.client.host if request.client else None,
            range=served,
            bytes_sent=sent,
        )
        with anyio.CancelScope(shield=True):  # a download the client dropped is still recorded
            try:
                await run_in_threadpool(record_attempt, self.instance, attempt)
            except Exception:  # the download itself must not fail because its log line could not be written
                logger.exception("could not record a download attempt for run %s", attempt.run_id)


def _file_headers(export: DownloadableExport) -> dict[str, str]:
    return {
        "Content-Type": export.media_type,
        "Content-Disposition": FileAttributes(file_name=export.file_name).content_disposition(),
        "ETag": export.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def refusal_response(request: Request, refusal: Refusal) -> Response:
    """JSON for API clients, a page for browsers; never a stack trace, never file bytes."""
    headers = dict(pages.SECURITY_HEADERS)
    if isinstance(refusal, LoginRequired):
        headers["WWW-Authenticate"] = 'Bearer realm="export-download"'
    if wants_json(request):
        body = {"error": refusal.reason, "status": refusal.status, "message": refusal.message}
        return JSONResponse(body, status_code=refusal.status, headers=headers)
    return HTMLResponse(pages.refusal_page(refusal), status_code=refusal.status, headers=headers)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        refusal = UnknownExport("there is no download here: check that the whole link was copied", "unknown")
    else:
        refusal = Refusal(exc.detail or "this request cannot be served")
        refusal.status = exc.status_code
    return refusal_response(request, refusal)


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.error("download service error on %s", redact(request.url.path), exc_info=exc)
    refusal = Refusal("something went wrong on our side: try again in a minute", "error")
    refusal.status = 500
    return refusal_response(request, refusal)


def create_app(
    *,
    instance: DagsterInstance | None = None,
    storage: EncryptedStorage | None = None,
    now: Callable[[], datetime] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Starlette:
    """The service, with the deployment's instance and storage unless given (tests inject them and a clock)."""
    init_error_tracking(DOWNLOAD_SERVICE, environ)
    if instance is None:
        from export_pipelines.automation.launch import local_instance

        instance = local_instance()
    if storage is None:
        from export_pipelines.run.resources import ExportStorageResource

        storage = ExportStorageResource().get()
    service = DownloadService(instance, storage, now or (lambda: datetime.now(UTC)), environ)
    routes = [
        Route("/d/{token}", service.page, methods=["GET"]),
        Route("/d/{token}/file", service.file, methods=["GET"]),
        Route("/d/{token}/go", service.go, methods=["GET"]),
        *service.status.routes(),
        Mount(PREFIX, app=create_api(service)),
        *desk_routes(service),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found, Exception: _server_error})
    app.router.redirect_slashes = False  # else a 307 to a Location built from the Host header, token included
    app.state.service = service
    return app

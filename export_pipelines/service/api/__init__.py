"""The export API, ``/api/v1`` on the download service: FastAPI mounted in the same Starlette app.

FastAPI because it is Starlette (what the service already is: one process, one uvicorn, the same thread pool)
plus request validation and OpenAPI generated from the pydantic ``ExportRequest`` that every other launch path
uses, so the API's schema and its 422s are the model's. One module per resource (``exports``, ``datasets``,
``subscriptions``, ``templates``); the caller (``identity``), answers that are not successes (``problems``)
and how an export is shown (``views``) are shared. ``/api/v1/openapi.json`` is the schema, ``/api/v1/docs``
the interactive docs (Swagger UI).
"""

from __future__ import annotations

from fastapi import FastAPI

from export_pipelines.security.app_tokens import AppTokenVerifier
from export_pipelines.service.api import datasets, exports, subscriptions, templates
from export_pipelines.service.api.problems import HANDLERS, Problem, problem_response

PREFIX = "/api/v1"
MAX_BODY_BYTES = 1 << 20  # a request is capped far lower at the gate (EXPORT_MAX_REQUEST_BYTES); a template too


def create_api(service) -> FastAPI:
    """The API over one DownloadService's instance, clock and settings; mount it at ``PREFIX``.

    A key or JWK Set that cannot be used stops the service at start, as a bad login setting does; with
    neither set, every call answers 401 saying that the deployment has no application key.
    """
    api = FastAPI(
        title="export_pipelines API",
        version="1",
        summary="Ask for, watch, manage and fetch exports as the signed-in user of the application.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        exception_handlers=HANDLERS,
    )
    api.router.redirect_slashes = False  # a 404, never a 307 built from the Host header
    api.state.service = service
    # A long-lived server keeps pooled connections to the instance's database, as dagster-webserver does (same
    # figures): on PostgreSQL a fresh connection per query cost ~220 ms of each submission's ~700 ms.
    service.instance.optimize_for_webserver(statement_timeout=15_000, pool_recycle=3600, max_overflow=20)
    _remember_run_columns(service.instance)
    api.state.verifier = AppTokenVerifier.configured(service.environ)
    api.middleware("http")(_refuse_large_bodies)
    api.include_router(datasets.router)
    api.include_router(exports.router)
    api.include_router(subscriptions.router)
    api.include_router(templates.router)
    return api


def _remember_run_columns(instance) -> None:
    """Dagster's SQL run storage reflects the runs table's columns on every read of run records, to learn whether
    a migration added ``start_time`` and ``end_time``; once they exist they stay for the life of this process
    (a migration is run with the service stopped). Remembering it spares ~18 of a submission's ~45 statements."""
    storage = instance.run_storage
    check = getattr(storage, "has_run_stats_index_cols", None)
    if check is not None and check():
        storage.has_run_stats_index_cols = lambda: True


async def _refuse_large_bodies(request, call_next):
    """413 for a body that says it is over MAX_BODY_BYTES, before it is read."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return problem_response(Problem(413, "too_large", f"the body is {int(length):,} bytes; the API takes at most "
                                        f"{MAX_BODY_BYTES:,}: send a smaller request"))  # fmt: skip
    return await call_next(request)

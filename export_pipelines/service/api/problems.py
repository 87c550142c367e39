"""The export API's errors as ``application/problem+json`` (RFC 9457): never a stack trace.

Every answer other than 2xx has ``type`` (``about:blank``: the status says what kind), ``title`` (the
status's phrase), ``status``, ``detail`` (what happened and what to do) and ``code`` (a stable word a
program can branch on: ``invalid_request``, ``queue_full``, ``idempotency_conflict``...). A request that
is not valid has ``errors``, one entry per bad field, named as every other launch path names it
(``filters[0].value``, ``format_options.delimiter``), with what is wrong and, when known, what is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from export_pipelines.errors import ExportRequestError

PROBLEM_JSON = "application/problem+json"
NO_STORE = {"Cache-Control": "private, no-store"}
logger = logging.getLogger(__name__)


class Problem(Exception):
    """An answer of the API that is not a success; raised anywhere below a route, answered by ``problem_response``."""

    def __init__(self, status: int, code: str, detail: str, errors: Sequence[Mapping] = (), headers=None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict:
        body = {"type": "about:blank", "title": HTTPStatus(self.status).phrase, "status": self.status,
                "detail": self.detail, "code": self.code}  # fmt: skip
        return {**body, "errors": self.errors} if self.errors else body


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, media_type=PROBLEM_JSON,
                        headers={**NO_STORE, **problem.headers})  # fmt: skip


def field_name(location: Iterable) -> str:
    """A pydantic location as the request's other paths name a field: ``("filters", 0, "value")`` is
    ``filters[0].value``."""
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def invalid(errors: Sequence[Mapping], detail: str | None = None) -> Problem:
    """422 for a request with bad fields; ``errors`` as ``{"field", "detail"[, "allowed"]}``, one per field."""
    merged: dict[str, dict] = {}
    for error in errors:
        entry = merged.setdefault(error["field"], dict(error))
        if entry is not error and error["detail"] not in entry["detail"]:
            entry["detail"] += f"; {error['detail']}"
    fields = ", ".join(merged)
    return Problem(422, "invalid_request", detail or f"the request is not valid ({fields}): fix the fields named in "
                   "errors and send it again", list(merged.values()))  # fmt: skip


def from_request_error(error: ExportRequestError) -> Problem:
    entry = {"field": error.field, "detail": error.problem}
    return invalid([{**entry, "allowed": error.allowed} if error.allowed else entry])


def from_pydantic(errors: Iterable[Mapping], skip: int = 0) -> Problem:
    """A pydantic error list (the body's, whose locations start with ``body``, or a model's) as one 422."""
    entries = []
    for error in errors:
        location = tuple(error.get("loc", ()))[skip:]
        kind = error.get("type", "")
        if kind == "missing":
            detail = "is required"
        elif kind == "extra_forbidden" and location == ("user",):
            detail = "is not allowed: the user is the one your token names (an admin acts for another with X-Act-As)"
        elif kind == "extra_forbidden":
            detail = "is not a known field"
        else:
            detail = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        entries.append({"field": field_name(location), "detail": detail})
    return invalid(entries)


async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    # Locations start with where the value was: body, query, header; the field is named as it was sent.
    return problem_response(from_pydantic(error.errors(), skip=1))


async def _problem(request: Request, problem: Problem) -> JSONResponse:
    return problem_response(problem)


async def _http(request: Request, error: HTTPException) -> JSONResponse:
    detail = {
        404: "there is nothing here: see /api/v1/docs for the API's paths",
        405: "this path does not take this method: see /api/v1/docs",
    }.get(error.status_code, str(error.detail))
    return problem_response(Problem(error.status_code, HTTPStatus(error.status_code).name.lower(), detail,
                                    headers=getattr(error, "headers", None)))  # fmt: skip


class GuardedRoute(APIRoute):
    """A route whose unexpected error is answered here, as a problem, and logged with its route (not its path)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request):
            try:
                return await handler(request)
            except (Problem, HTTPException, RequestValidationError):
                raise
            except Exception as error:  # noqa: BLE001 (the answer must never be a trace)
                return await _unexpected(request, error, self.path)

        return guarded


async def _unexpected(request: Request, error: Exception, route: str = "?") -> JSONResponse:
    logger.error("export API error on %s %s", request.method, route, exc_info=error)
    return problem_response(Problem(500, "internal_error", "something went wrong on our side: try again in a minute;"
                                    " if it goes on, tell an administrator the time of the request"))  # fmt: skip


HANDLERS = {Problem: _problem, RequestValidationError: _validation, HTTPException: _http, Exception: _unexpected}

"""Signing in to the pages: the application's hand-over, or, in the embedded default only, a development sign-in.

- ``GET /signin/app?token=<JWT>&next=/exports`` (or the same as a POSTed form): the application hands its
  signed-in user over with a short-lived token signed by its identity provider, verified exactly as the
  API's bearer tokens are (``security.app_tokens``), and at most ``HANDOVER_MAX_SECONDS`` from expiry: a
  long-lived API token is not a hand-over. The browser gets the session cookie and goes to ``next``.
- ``POST /signin/dev``: offered only while the instance's gate trusts unsigned submissions (the embedded
  default, which nobody untrusted reaches: anyone there may already submit as anyone). The page lists the
  users who hold grants and says plainly that this is a development sign-in.
- ``POST /signout`` ends the session.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from export_pipelines.automation.api_submission import trusts_unsigned_submissions
from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.reports.template_owners import record_teams, teams_of_roles
from export_pipelines.request.permissions import users_with_grants
from export_pipelines.run.resources import SourceDatabaseResource
from export_pipelines.security.app_tokens import AppTokenError, AppTokenVerifier
from export_pipelines.service.desk.guard import local_path, refused, signed_in
from export_pipelines.service.desk.render import page
from export_pipelines.service.desk.session import (
    CsrfRefused,
    check_form,
    current_session,
    end_session,
    keep_pre_session_secret,
    pre_session_secret,
    start_session,
)

HANDOVER_MAX_SECONDS = 600


class SignIn:
    """The sign-in routes of one DownloadService."""

    def __init__(self, service):
        self.service = service
        self.verifier = AppTokenVerifier.configured(service.environ)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/signin", self.form, methods=["GET"]),
            Route("/signin/app", self.handover, methods=["GET", "POST"]),
            Route("/signin/dev", self.development, methods=["POST"]),
            Route("/signout", signed_in(self.service, self.sign_out), methods=["POST"]),
        ]

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/exports", status_code=303)

    async def form(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        session = current_session(request, self.service.now(), self.service.environ)
        target = local_path(request.query_params.get("next"))
        if session is not None and error is None:
            return RedirectResponse(target, status_code=303)
        users = await run_in_threadpool(self._development_users)
        secret = pre_session_secret(request)
        response = page(request, "signin.html", None, csrf=secret, status_code=status, next=target, users=users,
                        error=error, application=self.verifier is not None)  # fmt: skip
        keep_pre_session_secret(response, secret)
        return response

    async def handover(self, request: Request) -> Response:
        source = await request.form(max_files=0, max_fields=4) if request.method == "POST" else request.query_params
        token, target = source.get("token") or "", local_path(source.get("next"))
        if self.verifier is None:
            return await self.form(request, "this deployment has no application key, so the application cannot sign "
                                   "you in here: its operator sets EXPORT_APP_JWT_PUBLIC_KEY", 401)  # fmt: skip
        try:
            identity = await run_in_threadpool(self.verifier.verify, f"Bearer {token}")
        except AppTokenError as error:
            return await self.form(request, f"{error} in the application", 401)
        if identity.expires_at - self.service.now().timestamp() > HANDOVER_MAX_SECONDS:
            return await self.form(request, "this sign-in token lives too long for a hand-over (at most "
                                   f"{HANDOVER_MAX_SECONDS // 60} minutes): the application must mint a short-lived "
                                   "one", 401)  # fmt: skip
        response = RedirectResponse(target, status_code=303)
        start_session(response, identity.user, identity.roles, "app", self.service.now(), self.service.environ)
        await run_in_threadpool(record_teams, identity.user, teams_of_roles(identity.roles))
        return response

    async def development(self, request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        try:
            check_form(request, form, None)
        except CsrfRefused as refusal:
            return refused(request, None, str(refusal))
        user = form.get("user") or ""
        users = await run_in_threadpool(self._development_users)
        if users is None:
            return refused(request, None, "the development sign-in is off: this deployment's gate does not trust "
                           "unsigned submissions, so only the application can sign you in")  # fmt: skip
        if user not in users:
            return await self.form(request, f"user: {user!r} holds no grant here; choose one of the users listed", 422)
        response = RedirectResponse(local_path(form.get("next")), status_code=303)
        start_session(response, user, (), "dev", self.service.now(), self.service.environ)
        return response

    def sign_out(self, request: Request, session, form) -> Response:
        response = RedirectResponse("/signin", status_code=303)
        end_session(response)
        return response

    def _development_users(self) -> list[str] | None:
        """The users the development sign-in offers; None when it is off (the gate does not trust unsigned)."""
        if not trusts_unsigned_submissions(self.service.instance):
            return None
        catalog = load_catalog()
        try:
            with SourceDatabaseResource().connect() as connection:
                return users_with_grants(connection, catalog)
        except Exception:  # no source yet (before seed-demo): the page says so instead of failing
            return []

"""Who is signed in to the pages: a session cookie holding a token the service signed, and its CSRF secret.

The cookie (``export_session``: HttpOnly, Secure, SameSite=Lax, path ``/``) holds a JWT signed with the
service's link signing keys (``delivery.links``) under its own audience, ``export-session``, so a session
can never open a download and a link can never open a session. It says who (``sub``), with which roles,
how they signed in (``via``: ``app`` for the application's hand-over, ``dev`` for the development sign-in),
until when (``EXPORT_SESSION_TTL``, default 8 hours), and a random ``csrf`` secret: every form of the pages
carries that secret (a page's script sends it as ``X-CSRF-Token``), and a POST without it is refused
(``check_form``). Before sign-in, the
sign-in forms carry the secret of a short-lived ``export_csrf`` cookie instead (double submit).

Browsers accept a Secure cookie from ``http://127.0.0.1`` and ``http://localhost`` (a secure context), so
the embedded default keeps the same flags as a deployment behind HTTPS.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from starlette.requests import Request
from starlette.responses import Response

from export_pipelines.delivery.links import ISSUER, parse_ttl, signing_keys
from export_pipelines.errors import SettingsError
from export_pipelines.reports.template_owners import teams_of_roles
from export_pipelines.service.api.identity import Caller

COOKIE = "export_session"
CSRF_COOKIE = "export_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"  # a page's script sends the secret here with a JSON body (an estimate, a preview)
AUDIENCE = "export-session"
TTL_ENV = "EXPORT_SESSION_TTL"
DEFAULT_TTL = timedelta(hours=8)
_REQUIRED = ("iss", "aud", "sub", "iat", "exp", "csrf", "via")


class CsrfRefused(Exception):
    """A form without this browser's CSRF secret, or a POST from another site."""


@dataclass(frozen=True)
class Session:
    user: str
    roles: tuple[str, ...]
    via: str  # "app" (the application's hand-over) or "dev" (the development sign-in)
    csrf: str
    expires_at: datetime

    @property
    def caller(self) -> Caller:
        """The pages act as the signed-in user, exactly as the API does for a bearer of their token."""
        return Caller(self.user, self.user, teams_of_roles(self.roles))


def session_ttl(environ: Mapping[str, str] = os.environ) -> timedelta:
    raw = environ.get(TTL_ENV)
    if not raw:
        return DEFAULT_TTL
    try:
        return parse_ttl(raw)
    except ValueError as error:
        raise SettingsError(f"{TTL_ENV}: {error}") from None


def start_session(response: Response, user: str, roles, via: str, now: datetime, environ: Mapping[str, str]) -> None:
    """Sign a new session (a new CSRF secret with it) into the response's cookie; the pre-sign-in cookie goes."""
    now = now.replace(microsecond=0)
    ttl = session_ttl(environ)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user, "roles": sorted(roles), "via": via,
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp()),
              "csrf": secrets.token_urlsafe(24)}  # fmt: skip
    token = signing_keys(environ).sign(claims)
    response.set_cookie(COOKIE, token, max_age=int(ttl.total_seconds()), path="/", secure=True, httponly=True,
                        samesite="lax")  # fmt: skip
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def current_session(request: Request, now: datetime, environ: Mapping[str, str]) -> Session | None:
    """The verified session of this browser, or None (no cookie, expired, altered, or not a session token)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        claims = signing_keys(environ).verify(token, audience=AUDIENCE, issuer=ISSUER, required=_REQUIRED)
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        roles = tuple(str(role) for role in claims.get("roles") or ())
        session = Session(str(claims["sub"]), roles, str(claims["via"]), str(claims["csrf"]), expires)
    except (jwt.InvalidTokenError, TypeError, ValueError, OverflowError):
        return None
    return session if session.expires_at > now else None


def pre_session_secret(request: Request) -> str:
    """The CSRF secret of a sign-in form: this browser's ``export_csrf`` cookie, or a new one to set."""
    secret = request.cookies.get(CSRF_COOKIE)
    return secret if secret and len(secret) <= 64 else secrets.token_urlsafe(24)


def keep_pre_session_secret(response: Response, secret: str) -> None:
    response.set_cookie(CSRF_COOKIE, secret, max_age=3600, path="/", secure=True, httponly=True, samesite="strict")


def check_form(request: Request, form: Mapping[str, str], session: Session | None) -> None:
    """Refuse a POST from another site, or one whose form lacks this browser's CSRF secret."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise CsrfRefused(f"this form was sent from another site ({origin}): open the page here and send it again")
    expected = session.csrf if session else request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("this form has expired or did not come from this page: reload the page and send it again")

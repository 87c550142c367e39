"""Download links: ``<EXPORT_PUBLIC_URL>/d/<JWT>``, a signed statement of which export the holder may fetch.

The token says who it was issued to (``sub``: the export's owner), which export (``run_id`` and its
``file_key``), and until when (``exp``: ``EXPORT_LINK_TTL`` from now, never past the file's own expiry).
``jti`` makes every link distinct, so the download log can tell two links for one export apart.
Verifying never consumes a link: a GET may be repeated (resumed downloads, link previews).
Revocation is per export and lives in the Dagster instance (see ``exports``), not in the token.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pydantic import TypeAdapter, ValidationError

from export_pipelines.delivery.refusals import Forbidden, Gone, InvalidLink
from export_pipelines.errors import SettingsError
from export_pipelines.security.signing_keys import SigningKeys, signing_keys_from_env
from export_pipelines.settings import data_dir

ISSUER = "export_pipelines"
AUDIENCE = "export-download"
STATUS_AUDIENCE = "export-status"  # a status token: follow one export while it runs (see status_claims)
TTL_ENV = "EXPORT_LINK_TTL"
PUBLIC_URL_ENV = "EXPORT_PUBLIC_URL"
DEFAULT_TTL = timedelta(days=7)
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
_REQUIRED = ("iss", "aud", "sub", "iat", "exp", "jti", "run_id", "file_key")
_STATUS_REQUIRED = ("iss", "aud", "sub", "iat", "exp", "jti", "run_id")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
# A compact JWS: three base64url parts. Anything else in /d/<...> is not a link at all.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")  # an unsigned token is refused as 401


@dataclass(frozen=True)
class Link:
    url: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link grants."""

    run_id: str
    file_key: str
    owner: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


def parse_ttl(text: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w``, a bare number of seconds, or ISO 8601 (``P7D``)."""
    match = _DURATION.match(text)
    if match:
        ttl = timedelta(seconds=int(match[1]) * _UNITS[(match[2] or "s").lower()])
    else:
        try:
            ttl = TypeAdapter(timedelta).validate_python(text.strip())
        except ValidationError:
            raise ValueError(
                f"link lifetime {text!r}: use a number with s, m, h, d or w (e.g. 7d), or ISO 8601"
            ) from None
    if ttl <= timedelta(0):
        raise ValueError(f"link lifetime {text!r} must be positive")
    return ttl


def link_ttl(environ: Mapping[str, str] = os.environ) -> timedelta:
    return duration_setting(environ, TTL_ENV, DEFAULT_TTL)


def duration_setting(environ: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    """The lifetime set in ``name`` (``parse_ttl``'s forms), else ``default``; a SettingsError names it."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        return parse_ttl(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def public_url(environ: Mapping[str, str] = os.environ) -> str:
    return (environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL).rstrip("/")


def signing_keys(environ: Mapping[str, str] = os.environ) -> SigningKeys:
    return signing_keys_from_env(environ, data_dir=data_dir())


def mint_link(
    *,
    run_id: str,
    file_key: str,
    owner: str,
    file_expires_at: datetime | None,
    ttl: timedelta | None = None,
    now: datetime | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Link:
    """A fresh link to one export, valid for ``ttl`` (default ``EXPORT_LINK_TTL``) or until the file expires."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    expires_at = now + (ttl or link_ttl(environ))
    if file_expires_at is not None:
        if file_expires_at <= now:
            raise Gone(f"the file of run {run_id} expired at {file_expires_at:%Y-%m-%d %H:%M} UTC", "expired")
        expires_at = min(expires_at, file_expires_at)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": owner,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_urlsafe(16),
        "run_id": run_id,
        "file_key": file_key,
    }
    token = signing_keys(environ).sign(claims)
    return Link(f"{public_url(environ)}/d/{token}", token, datetime.fromtimestamp(claims["exp"], UTC))


def verify_link(token: str, now: datetime, environ: Mapping[str, str] = os.environ) -> LinkClaims:
    """The claims of a genuine, unexpired link; InvalidLink (401), Forbidden (403) or Gone (410) otherwise."""
    if not TOKEN_SHAPE.match(token):
        raise InvalidLink("this is not a download link: check that it was copied whole")
    try:
        # The claims every token has first, so a status token is told apart by its audience (403), not
        # by its missing file_key; the link's own claims are checked once the audience is known.
        claims = signing_keys(environ).verify(token, audience=AUDIENCE, issuer=ISSUER, required=_STATUS_REQUIRED)
    except jwt.InvalidAudienceError:
        raise Forbidden(
            "this token is not a download link (it was issued for something else)", "wrong_audience"
        ) from None
    except jwt.InvalidTokenError:
        raise InvalidLink("this link was altered or was not issued by this service: ask for a new link") from None
    if any(name not in claims for name in _REQUIRED):
        raise InvalidLink("this link is malformed: ask for a new link")
    try:
        verified = LinkClaims(
            run_id=_text(claims["run_id"]),
            file_key=_text(claims["file_key"]),
            owner=_text(claims["sub"]),
            token_id=_text(claims["jti"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError, OverflowError):
        raise InvalidLink("this link is malformed: ask for a new link") from None
    if verified.expires_at <= now:
        expired = Gone(f"this link expired on {verified.expires_at:%Y-%m-%d %H:%M} UTC: ask for a new link", "expired")
        expired.claims = verified  # genuine, only late: the download log names its export
        raise expired
    return verified


@dataclass(frozen=True)
class StatusClaims:
    """What a verified status or link token lets its holder follow: one run, of one owner."""

    run_id: str
    owner: str
    token_id: str
    expires_at: datetime
    audience: str  # STATUS_AUDIENCE or AUDIENCE (a download link also shows its export's status)
    file_key: str | None = None  # only in a download link


def mint_status_token(
    *,
    run_id: str,
    owner: str,
    ttl: timedelta | None = None,
    now: datetime | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Link:
    """A token to follow one export from submission on: its status, its events, and its page.

    Minted before any file exists (no ``file_key``), with the audience ``export-status``: it can never
    fetch a file itself; the page mints a download link for its owner once the run has succeeded.
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    expires_at = now + (ttl or link_ttl(environ))
    claims = {"iss": ISSUER, "aud": STATUS_AUDIENCE, "sub": owner, "iat": int(now.timestamp()),
              "exp": int(expires_at.timestamp()), "jti": secrets.token_urlsafe(16), "run_id": run_id}  # fmt: skip
    token = signing_keys(environ).sign(claims)
    return Link(f"{public_url(environ)}/d/{token}", token, datetime.fromtimestamp(claims["exp"], UTC))


def status_claims(token: str, now: datetime, environ: Mapping[str, str] = os.environ) -> StatusClaims:
    """A status token's claims, or a download link's: no other token, signed or not, is accepted."""
    try:
        link = verify_link(token, now, environ)
        return StatusClaims(link.run_id, link.owner, link.token_id, link.expires_at, AUDIENCE, link.file_key)
    except Forbidden as refusal:
        if refusal.reason != "wrong_audience":
            raise
    try:  # not a download link: then only a status token will do
        claims = signing_keys(environ).verify(token, audience=STATUS_AUDIENCE, issuer=ISSUER, required=_STATUS_REQUIRED)
    except jwt.InvalidAudienceError:
        raise Forbidden("this token is neither a status token nor a download link", "wrong_audience") from None
    except jwt.InvalidTokenError:
        raise InvalidLink("this token was altered or was not issued by this service: ask for a new one") from None
    try:
        verified = StatusClaims(_text(claims["run_id"]), _text(claims["sub"]), _text(claims["jti"]),
                                datetime.fromtimestamp(int(claims["exp"]), UTC), STATUS_AUDIENCE)  # fmt: skip
    except (TypeError, ValueError, OverflowError):
        raise InvalidLink("this token is malformed: ask for a new one") from None
    if verified.expires_at <= now:
        raise Gone(f"this status token expired on {verified.expires_at:%Y-%m-%d %H:%M} UTC", "expired")
    return verified


def link_for_record(record, tags: Mapping[str, str], now: datetime | None = None) -> str | None:
    """A link for a finished, unrevoked, unexpired export's audit record; None for every other record."""
    from export_pipelines.delivery.exports import is_revoked

    if record.status != "SUCCESS" or not record.file_key or not record.user or is_revoked(tags):
        return None
    expires = datetime.fromisoformat(record.expires_at) if record.expires_at else None
    try:
        link = mint_link(run_id=record.run_id, file_key=record.file_key, owner=record.user, file_expires_at=expires,
                         now=now)  # fmt: skip
    except Gone:
        return None
    return link.url


def record_with_link(instance, record):
    """The audit record with a fresh download link when its export may be downloaded (finished, not
    deleted, revoked or expired); run history leaves ``link`` empty, the one who shows the record mints it."""
    from dataclasses import replace

    if record.deleted_at:
        return record
    run = instance.get_run_by_id(record.run_id)
    return replace(record, link=link_for_record(record, run.tags if run else {}))


def _text(value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected text")
    return value

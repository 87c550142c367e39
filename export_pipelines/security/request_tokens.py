"""Request tokens: the application's word that a user asked for exactly this export, verified at the gate.

When the deployment does not trust unsigned submissions, every export submitted through the
webserver (launchpad, GraphQL) carries a short-lived JWT in the run tag ``export/request_token``,
signed by the application that authenticated the user. Its claims:

- ``sub``: the user; must equal the request's ``user``.
- ``req``: sha256 of the request as submitted (``export_pipelines.request.model.canonical_digest`` of the
  mapping under ``ops.validate_request.config``), so a token for one request admits no other.
- ``aud``: ``export-pipelines/submit``, so no other token of the application (a login) is taken for one.
- ``iat``, ``exp``: at most five minutes apart; ``jti``: unique, each token admits one run (the gate
  records it on the run, where every webserver and daemon sees it).

The public key is a PEM file (``EXPORT_REQUEST_TOKEN_PUBLIC_KEY``), read at every verification so a
rotated key needs no restart. The algorithm is pinned by the key's type (EdDSA on Ed25519, ES256 on
P-256), never taken from the token.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from export_pipelines.errors import PermanentExportError, SettingsError

PUBLIC_KEY_ENV = "EXPORT_REQUEST_TOKEN_PUBLIC_KEY"
AUDIENCE = "export-pipelines/submit"
MAX_LIFETIME_SECONDS = 300
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ["sub", "req", "aud", "iat", "exp", "jti"]
_ASK_AGAIN = "submit the export from the application again (it signs a new token)"


class RequestTokenError(PermanentExportError):
    """The submission's request token is missing, invalid, expired, or for another user or request."""


@dataclass(frozen=True)
class RequestClaims:
    """What a verified token says: who asked, and the token's one-time id."""

    user: str
    jti: str
    expires_at: int


def verify_request_token(
    token: str | None, request_digest: str, user: str, environ: Mapping[str, str] = os.environ
) -> RequestClaims:
    """Check ``token`` was signed by the application for ``user`` and exactly this request, and is fresh."""
    if not token or not token.strip():
        raise RequestTokenError(
            "this deployment accepts exports from the webserver only with a request token from the application "
            f"(run tag export/request_token): {_ASK_AGAIN}"
        )
    key, algorithm = _public_key(environ)
    try:
        claims = jwt.decode(
            token.strip(), key, algorithms=[algorithm], audience=AUDIENCE, leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )  # fmt: skip
    except jwt.ExpiredSignatureError:
        raise RequestTokenError(f"the request token has expired: {_ASK_AGAIN}") from None
    except jwt.InvalidTokenError:
        raise RequestTokenError(f"the request token is not valid (not the application's): {_ASK_AGAIN}") from None
    if not all(isinstance(claims[name], (int, float)) for name in ("iat", "exp")):
        raise RequestTokenError(f"the request token's iat and exp must be numbers: {_ASK_AGAIN}")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
        raise RequestTokenError(
            f"the request token lives longer than {MAX_LIFETIME_SECONDS} s; the application must sign short-lived "
            f"tokens: {_ASK_AGAIN}"
        )
    if claims["req"] != request_digest:
        raise RequestTokenError(
            f"the request token was signed for another request (any change to the request needs a new token): "
            f"{_ASK_AGAIN}"
        )
    if claims["sub"] != user:
        raise RequestTokenError(
            "the request token was signed for another user than the request's user: submit the export as the "
            "signed-in user, from the application"
        )
    jti = claims["jti"]
    if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
        raise RequestTokenError(f"the request token's jti must be a unique string of 8 to 128 characters: {_ASK_AGAIN}")
    return RequestClaims(user=claims["sub"], jti=jti, expires_at=int(claims["exp"]))


def issue_request_token(
    private_key_pem: bytes, user: str, request_digest: str, lifetime: int = 120, now: float | None = None
) -> str:
    """Sign a request token, as the application does (for its integration code and for tests)."""
    key = load_pem_private_key(private_key_pem, password=None)
    algorithm = _algorithm_for(key.public_key(), "the private key")
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": user, "req": request_digest, "aud": AUDIENCE,
        "iat": issued, "exp": issued + lifetime, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    return jwt.encode(claims, key, algorithm=algorithm)


def _public_key(environ: Mapping[str, str]):
    path = environ.get(PUBLIC_KEY_ENV, "").strip()
    if not path:
        raise SettingsError(
            f"{PUBLIC_KEY_ENV} must name the application's request-token public key (PEM), or the deployment "
            "must trust unsigned submissions (EXPORT_TRUST_UNSIGNED_SUBMISSIONS=1): tell an administrator"
        )
    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or "not a PEM public key"
        raise SettingsError(f"{PUBLIC_KEY_ENV}={path}: {reason}") from None
    return key, _algorithm_for(key, f"{PUBLIC_KEY_ENV}={path}")


def _algorithm_for(key, where: str) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise SettingsError(f"{where}: use an Ed25519 (EdDSA) or P-256 (ES256) key")

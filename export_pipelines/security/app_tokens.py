"""The application's own JWTs (the login of the app that embeds the download service), verified here.

When ``EXPORT_DOWNLOAD_REQUIRE_LOGIN=1`` a download link alone is not enough: the request must also carry
``Authorization: Bearer <app JWT>``, signed by the application's identity provider. Its public key is a
PEM file (``EXPORT_APP_JWT_PUBLIC_KEY``); the algorithm is pinned by the key's type (RS256, ES256 on P-256,
EdDSA on Ed25519), never taken from the token, so ``alg: none`` and HMAC-with-the-public-key are refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from export_pipelines.errors import SettingsError

REQUIRE_LOGIN_ENV = "EXPORT_DOWNLOAD_REQUIRE_LOGIN"
PUBLIC_KEY_ENV = "EXPORT_APP_JWT_PUBLIC_KEY"
AUDIENCE_ENV = "EXPORT_APP_JWT_AUDIENCE"
DEFAULT_AUDIENCE = "export-pipelines"
ADMIN_ROLE = "admin"


class AppTokenError(Exception):
    """The bearer token is missing, malformed, expired or not signed by the application's key."""


@dataclass(frozen=True)
class AppIdentity:
    """Who the application says the caller is."""

    user: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


@dataclass(frozen=True)
class AppTokenVerifier:
    """Verifies app JWTs with one public key and the one algorithm that key implies."""

    key: object
    algorithm: str
    audience: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AppTokenVerifier | None:
        """None when login is not required; a SettingsError when it is but the key cannot be used."""
        if environ.get(REQUIRE_LOGIN_ENV, "").strip().lower() not in ("1", "true", "yes"):
            return None
        path = environ.get(PUBLIC_KEY_ENV)
        if not path:
            raise SettingsError(
                f"{REQUIRE_LOGIN_ENV} is set: {PUBLIC_KEY_ENV} must name the app's JWT public key (PEM)"
            )
        try:
            key = load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or "not a PEM public key"
            raise SettingsError(f"{PUBLIC_KEY_ENV}={path}: {reason}") from None
        return cls(key, _algorithm_for(key, path), environ.get(AUDIENCE_ENV) or DEFAULT_AUDIENCE)

    def verify(self, authorization: str | None) -> AppIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AppTokenError("sign in: this download needs 'Authorization: Bearer <token>' from the application")
        try:
            claims = jwt.decode(
                token.strip(), self.key, algorithms=[self.algorithm], audience=self.audience,
                options={"require": ["sub", "exp"]},
            )  # fmt: skip
        except jwt.InvalidTokenError:
            raise AppTokenError("the sign-in token is invalid or expired: sign in again") from None
        return AppIdentity(str(claims["sub"]), _roles(claims.get("roles", [])))


def _roles(roles) -> frozenset[str]:
    """``roles`` is a list of strings or the token is refused: an object such as ``{"admin": false}``
    would otherwise iterate as its keys and grant what it says it does not."""
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AppTokenError("the sign-in token's 'roles' must be a list of strings: ask the application's"
                            " administrator to fix its tokens")  # fmt: skip
    return frozenset(roles)


def _algorithm_for(key, path: str) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise SettingsError(f"{PUBLIC_KEY_ENV}={path}: use an RSA, P-256 or Ed25519 public key")

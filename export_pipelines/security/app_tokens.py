"""The application's own JWTs (the login of the app that embeds the download service), verified here.

When ``EXPORT_DOWNLOAD_REQUIRE_LOGIN=1`` a download link alone is not enough: the request must also carry
``Authorization: Bearer <app JWT>``, signed by the application's identity provider. Its public key is a
PEM file (``EXPORT_APP_JWT_PUBLIC_KEY``); the algorithm is pinned by the key's type (RS256, ES256 on P-256,
EdDSA on Ed25519), never taken from the token, so ``alg: none`` and HMAC-with-the-public-key are refused.

An identity provider that rotates its keys publishes them as a JWK Set: ``EXPORT_APP_JWKS_URL`` names it
(HTTPS, or HTTP on loopback only), and PyJWT's ``PyJWKClient`` fetches it, caches it for five minutes and
fetches it again when a token names a ``kid`` it does not know (at most every 30 s, so tokens with made-up
``kid`` values cannot make the service hammer the provider). The algorithm is still the key's, whatever
the token's header or the JWK's ``alg`` say. The export API (``service/api/``) always requires these tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from export_pipelines.errors import SettingsError

REQUIRE_LOGIN_ENV = "EXPORT_DOWNLOAD_REQUIRE_LOGIN"
PUBLIC_KEY_ENV = "EXPORT_APP_JWT_PUBLIC_KEY"
AUDIENCE_ENV = "EXPORT_APP_JWT_AUDIENCE"
JWKS_URL_ENV = "EXPORT_APP_JWKS_URL"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_AUDIENCE = "export-pipelines"
ADMIN_ROLE = "admin"


class AppTokenError(Exception):
    """The bearer token is missing, malformed, expired or not signed by the application's key."""


class AppKeysUnavailable(AppTokenError):
    """The identity provider's JWK Set could not be fetched: nobody's token can be checked just now."""


@dataclass(frozen=True)
class AppIdentity:
    """Who the application says the caller is."""

    user: str
    roles: frozenset[str]
    expires_at: int | None = None  # the token's exp (seconds since the epoch): a hand-over must be short-lived

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


@dataclass(frozen=True)
class AppTokenVerifier:
    """Verifies app JWTs with one public key, or the keys of a JWK Set, and the one algorithm a key implies."""

    key: object | None
    algorithm: str | None
    audience: str
    jwks: jwt.PyJWKClient | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AppTokenVerifier | None:
        """None when login is not required; a SettingsError when it is but the key cannot be used."""
        if environ.get(REQUIRE_LOGIN_ENV, "").strip().lower() not in ("1", "true", "yes"):
            return None
        verifier = cls.configured(environ)
        if verifier is None:
            raise SettingsError(f"{REQUIRE_LOGIN_ENV} is set: {PUBLIC_KEY_ENV} must name the app's JWT public key "
                                f"(PEM), or {JWKS_URL_ENV} its identity provider's JWK Set")  # fmt: skip
        return verifier

    @classmethod
    def configured(cls, environ: Mapping[str, str] = os.environ) -> AppTokenVerifier | None:
        """The verifier of the key (or JWK Set) the deployment names; None when it names neither."""
        audience = environ.get(AUDIENCE_ENV) or DEFAULT_AUDIENCE
        url = environ.get(JWKS_URL_ENV, "").strip()
        if url:
            parts = urlsplit(url)
            if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
                raise SettingsError(f"{JWKS_URL_ENV}={url}: use an https:// URL (http:// only on loopback)")
            return cls(None, None, audience, jwt.PyJWKClient(url, lifespan=300, timeout=10, cooldown_duration=30))
        path = environ.get(PUBLIC_KEY_ENV)
        if not path:
            return None
        try:
            key = load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or "not a PEM public key"
            raise SettingsError(f"{PUBLIC_KEY_ENV}={path}: {reason}") from None
        algorithm = _algorithm(key)
        if algorithm is None:
            raise SettingsError(f"{PUBLIC_KEY_ENV}={path}: use an RSA, P-256 or Ed25519 public key")
        return cls(key, algorithm, audience)

    def verify(self, authorization: str | None) -> AppIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AppTokenError("sign in: this needs 'Authorization: Bearer <token>' from the application")
        key, algorithm = self._key_for(token.strip())
        try:
            claims = jwt.decode(
                token.strip(), key, algorithms=[algorithm], audience=self.audience,
                options={"require": ["sub", "exp"]},
            )  # fmt: skip
        except jwt.InvalidTokenError:
            raise AppTokenError("the sign-in token is invalid or expired: sign in again") from None
        return AppIdentity(str(claims["sub"]), _roles(claims.get("roles", [])), int(claims["exp"]))

    def _key_for(self, token: str) -> tuple[object, str]:
        if self.jwks is None:
            return self.key, self.algorithm
        try:
            key = self.jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise AppKeysUnavailable(
                "the identity provider's keys could not be fetched: try again in a minute"
            ) from None
        except jwt.PyJWTError:  # no such kid, a malformed token, a key PyJWT cannot read
            raise AppTokenError("the sign-in token is invalid or expired: sign in again") from None
        algorithm = _algorithm(key)
        if algorithm is None:
            raise AppTokenError("the sign-in token's key is not an RSA, P-256 or Ed25519 key: sign in again")
        return key, algorithm


def _roles(roles) -> frozenset[str]:
    """``roles`` is a list of strings or the token is refused: an object such as ``{"admin": false}``
    would otherwise iterate as its keys and grant what it says it does not."""
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AppTokenError("the sign-in token's 'roles' must be a list of strings: ask the application's"
                            " administrator to fix its tokens")  # fmt: skip
    return frozenset(roles)


def _algorithm(key) -> str | None:
    """The one algorithm a public key is used with; None for a key of another type."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    return None

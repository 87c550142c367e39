"""Download-link signing keys: Ed25519 keys in a JWK Set, read, written and used here and only here.

Links are JWTs signed with EdDSA over Ed25519 (RFC 8037). Ed25519 rather than ES256: signatures are
deterministic (no per-signature random nonce whose reuse or bias leaks the key, ECDSA's classic failure),
keys and signatures are small and fixed-size, and there are no curve or parameter choices to get wrong.
Both sides are ours, so ES256's wider support in other libraries buys nothing. The algorithm is pinned
when verifying (``alg: none`` and HS256-with-the-public-key are refused before any key is used).

The key file is a JWK Set (RFC 7517) plus the id of the key that signs new links::

    {"active_kid": "...", "keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "...", "x": "...", "d": "..."}, ...]}

Every token carries its key's ``kid``, so keys rotate: a new active key signs new links, the older keys
stay in the set (public half only) so the links they signed verify until they expire. A deployment supplies
the file through ``EXPORT_LINK_SIGNING_KEYS``; without it one is created in the data folder on first use.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from export_pipelines.errors import PermanentExportError
from export_pipelines.security.key_files import ParsedKeyFiles, create_once
from export_pipelines.security.private_files import write_private

logger = logging.getLogger(__name__)

SIGNING_KEYS_ENV = "EXPORT_LINK_SIGNING_KEYS"
ALGORITHM = "EdDSA"  # with Ed25519 keys only: the one algorithm links are signed and verified with


class SigningKeyError(PermanentExportError):
    """The signing key file is missing, unreadable or malformed; the message names the file, never key bytes."""


class UnknownSigningKey(jwt.InvalidTokenError):
    """The token names a key id the key set does not hold (forged, or signed with a removed key)."""


@dataclass(frozen=True)
class SigningKeys:
    """Ed25519 keys by key id, and the id of the one that signs. Immutable: ``rotated`` returns a new set."""

    active_kid: str
    keys: Mapping[str, Ed25519PrivateKey | Ed25519PublicKey]

    def __post_init__(self) -> None:
        if not isinstance(self.keys.get(self.active_kid), Ed25519PrivateKey):
            raise SigningKeyError(f"the active key {self.active_kid!r} is not a private Ed25519 key of the set")

    def sign(self, claims: Mapping[str, object]) -> str:
        """A compact JWT of ``claims``, signed with the active key, its ``kid`` in the header."""
        return jwt.encode(
            dict(claims), self.keys[self.active_kid], algorithm=ALGORITHM, headers={"kid": self.active_kid}
        )

    def verify(self, token: str, *, audience: str, issuer: str, required: tuple[str, ...]) -> dict:
        """The claims of ``token`` once its signature, algorithm, audience and issuer check out.

        Raises PyJWT's InvalidTokenError family (InvalidAudienceError for another audience). Time claims
        are left to the caller, who owns the clock.
        """
        kid = jwt.get_unverified_header(token).get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnknownSigningKey("the token was not signed by a key of this deployment")
        public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
        options = {"require": list(required), "verify_exp": False, "verify_iat": False, "verify_nbf": False}
        return jwt.decode(token, public, algorithms=[ALGORITHM], audience=audience, issuer=issuer, options=options)

    @classmethod
    def generate(cls) -> SigningKeys:
        kid = _new_kid()
        return cls(kid, {kid: Ed25519PrivateKey.generate()})

    def rotated(self) -> SigningKeys:
        """A new active key; the others keep only their public half, enough to verify what they signed."""
        kid = _new_kid()
        kept = {k: (v.public_key() if isinstance(v, Ed25519PrivateKey) else v) for k, v in self.keys.items()}
        return SigningKeys(kid, {**kept, kid: Ed25519PrivateKey.generate()})

    def to_json(self) -> str:
        keys = [
            {**OKPAlgorithm.to_jwk(key, as_dict=True), "kid": kid, "alg": ALGORITHM} for kid, key in self.keys.items()
        ]
        return json.dumps({"active_kid": self.active_kid, "keys": keys}, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str) -> SigningKeys:
        try:
            document = json.loads(text)
            active, entries = document["active_kid"], document["keys"]
        except (ValueError, KeyError, TypeError):
            raise SigningKeyError(f"{source} is not a signing key set: expected {{'active_kid', 'keys'}}") from None
        keys = {}
        for entry in entries if isinstance(entries, list) else []:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            try:
                key = jwt.PyJWK(entry).key
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                raise SigningKeyError(f"{source}: key {kid!r} is not a valid JWK") from None
            if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey) or not isinstance(kid, str) or kid in keys:
                raise SigningKeyError(f"{source}: key {kid!r} must be an Ed25519 (OKP) key with a unique 'kid'")
            keys[kid] = key
        try:
            return cls(active, keys)
        except SigningKeyError as error:
            raise SigningKeyError(f"{source}: {error}") from None


def _new_kid() -> str:
    return secrets.token_urlsafe(12)


# --- files -------------------------------------------------------------------------------------------

_files: ParsedKeyFiles[SigningKeys] = ParsedKeyFiles("signing key file", SigningKeyError)


def default_signing_keys_path(data_dir: Path) -> Path:
    return Path(data_dir) / "keys" / "link_signing_keys.json"


def signing_keys_path(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> Path:
    """``$EXPORT_LINK_SIGNING_KEYS``, else the data folder's key file."""
    return Path(environ.get(SIGNING_KEYS_ENV) or default_signing_keys_path(data_dir))


def load_signing_keys(path: Path | str) -> SigningKeys:
    """The key set in ``path``, parsed once per file version, so a rotation by another process is seen."""
    path = Path(path)
    return _files.load(path, lambda text: SigningKeys.from_json(text, str(path)))


def save_signing_keys(keys: SigningKeys, path: Path | str) -> None:
    """Write ``keys`` atomically (temporary file, then rename), mode 0600, folder 0700."""
    write_private(Path(path), keys.to_json())


def signing_keys_from_env(environ: Mapping[str, str] = os.environ, *, data_dir: Path) -> SigningKeys:
    """The deployment's key set (``EXPORT_LINK_SIGNING_KEYS``), else the data folder's, created on first use."""
    configured = environ.get(SIGNING_KEYS_ENV)
    if configured:
        try:
            return load_signing_keys(configured)
        except SigningKeyError as error:
            raise SigningKeyError(
                f"{SIGNING_KEYS_ENV} is set to {configured}, but {error}. Point it at the deployment's link signing"
                " key file (made with 'export-pipelines link-keys generate'), readable by this process"
            ) from None
    path = default_signing_keys_path(data_dir)
    if create_once(path, lambda: SigningKeys.generate().to_json()):
        logger.warning(
            "Created a new link signing key at %s because %s is not set. Links signed with it stop working if it is"
            " lost or differs between the processes that mint and serve links: deployments supply one file through %s.",
            path,
            SIGNING_KEYS_ENV,
            SIGNING_KEYS_ENV,
        )
    return load_signing_keys(path)

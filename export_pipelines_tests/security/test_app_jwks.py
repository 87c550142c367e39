"""App JWTs verified against an identity provider's JWK Set (EXPORT_APP_JWKS_URL), fetched over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from export_pipelines.errors import SettingsError
from export_pipelines.security.app_tokens import AppKeysUnavailable, AppTokenError, AppTokenVerifier


class IdentityProvider:
    """Publishes its public keys as a JWK Set at /jwks.json, and signs tokens with a key of its choice."""

    def __init__(self):
        self.keys: dict[str, object] = {}
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the name http.server calls)
                provider.fetches += 1
                keys = [_jwk(kid, key) for kid, key in provider.keys.items()]
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def token(self, kid: str, sub: str = "analyst", roles=()) -> str:
        key = self.keys[kid]
        algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
        claims = {"sub": sub, "aud": "export-pipelines", "roles": list(roles), "exp": int(time.time()) + 300}
        return "Bearer " + jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def _jwk(kid: str, key) -> dict:
    """A throw-away JWK of the key's type, only to reach PyJWT's algorithm object for that type."""
    algorithm = (
        jwt.algorithms.OKPAlgorithm if isinstance(key, ed25519.Ed25519PrivateKey) else jwt.algorithms.ECAlgorithm
    )
    return json.loads(algorithm.to_jwk(key.public_key())) | {"kid": kid}


@pytest.fixture
def provider():
    provider = IdentityProvider()
    yield provider
    provider.server.shutdown()


def test_tokens_verify_against_the_published_keys_and_a_rotated_key_is_fetched(provider):
    provider.keys["k1"] = ec.generate_private_key(ec.SECP256R1())
    verifier = AppTokenVerifier.configured({"EXPORT_APP_JWKS_URL": provider.url})

    assert verifier.verify(provider.token("k1", roles=["admin"])).is_admin
    verifier.jwks.cooldown_duration = 0  # else an unknown kid is fetched again only 30 s after the last fetch
    provider.keys["k2"] = ed25519.Ed25519PrivateKey.generate()  # the provider rotates: a new kid appears
    assert verifier.verify(provider.token("k2", sub="boss")).user == "boss"
    assert provider.fetches == 2  # once, and again for the kid it did not know

    stranger = IdentityProvider()
    stranger.keys["k1"] = ec.generate_private_key(ec.SECP256R1())  # same kid, a key the provider never published
    with pytest.raises(AppTokenError):
        verifier.verify(stranger.token("k1"))
    stranger.server.shutdown()


def test_a_jwks_url_must_be_https_except_on_loopback():
    with pytest.raises(SettingsError, match="https"):
        AppTokenVerifier.configured({"EXPORT_APP_JWKS_URL": "http://idp.example.com/jwks.json"})
    assert AppTokenVerifier.configured({"EXPORT_APP_JWKS_URL": "https://idp.example.com/jwks.json"}) is not None
    assert AppTokenVerifier.configured({}) is None  # neither a key nor a JWK Set: the API answers 401


def test_a_provider_that_cannot_be_reached_is_told_apart_from_a_bad_token(provider):
    provider.keys["k1"] = ec.generate_private_key(ec.SECP256R1())
    token = provider.token("k1")
    verifier = AppTokenVerifier.configured({"EXPORT_APP_JWKS_URL": provider.url})
    provider.server.shutdown()
    provider.server.server_close()  # the port now refuses connections

    with pytest.raises(AppKeysUnavailable):  # the API answers 503 with Retry-After, not 401
        verifier.verify(token)

"""The download service over real HTTP: the page, the file, and every way a link is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from export_pipelines.delivery.links import AUDIENCE, ISSUER
from export_pipelines_tests.delivery.conftest import sha256

JSON = {"Accept": "application/json"}


def served(world, link_url: str) -> str:
    """The link, pointed at the test server (links are built on EXPORT_PUBLIC_URL)."""
    return world.server.url + urlsplit(link_url).path


def claims_of(world, record, **changes) -> dict:
    now = int(world.clock().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": record.user, "iat": now, "exp": now + 3600, "jti": "t",
              "run_id": record.run_id, "file_key": record.file_key}  # fmt: skip
    return {**claims, **changes}


def signed(claims: dict) -> str:
    """Signed with the deployment's own active key, as the service would sign it."""
    from export_pipelines.delivery.links import signing_keys

    return signing_keys().sign(claims)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_page_shows_the_exports_facts_escaped_and_only_whether_rows_were_withheld(world, clock):
    link = world.link(world.small)

    page = requests.get(served(world, link.url), timeout=30)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Q1 &lt;orders&gt; &amp; co" in html and "<orders>" not in html
    assert 'data-fact="dataset">orders<' in html and 'data-fact="format">CSV<' in html
    assert f'data-fact="rows">{world.small.rows:,}<' in html
    assert f"{world.small.bytes:,} bytes" in html and "amount ge 10" in html
    assert world.small.expires_at[:10] in html and "Created" in html
    assert "some rows were withheld because of your permissions" in html.lower()
    assert f"{world.small.skipped_rows:,}" not in html and str(world.small.skipped_rows) not in html
    assert f'href="{link.token}/file"' in html
    assert page.headers["referrer-policy"] == "no-referrer" and "default-src 'none'" in page.headers[
        "content-security-policy"]  # fmt: skip


def test_a_full_download_is_byte_identical_and_its_sha256_is_the_etag(world, clock):
    response = requests.get(served(world, world.link(world.small).url) + "/file", timeout=60)

    assert response.status_code == 200
    assert response.content == world.plaintext(world.small)
    assert response.headers["etag"] == f'"{sha256(response.content)}"' == f'"{world.small.sha256}"'
    assert response.headers["content-length"] == str(world.small.bytes)
    assert response.headers["content-type"].startswith("text/csv")
    name = world.small.file_key.rsplit("/", 1)[1]
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert response.headers["cache-control"] == "private, no-store" and response.headers["accept-ranges"] == "bytes"


def test_head_answers_the_headers_without_a_body(world, clock):
    response = requests.head(served(world, world.link(world.big).url) + "/file", timeout=30)

    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(world.big.bytes)
    assert response.headers["etag"] == f'"{world.big.sha256}"'


def test_a_link_is_not_consumed_by_use(world, clock):
    url = served(world, world.link(world.small).url) + "/file"

    assert [requests.get(url, timeout=30).status_code for _ in range(3)] == [200, 200, 200]


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["run_id"] = str(uuid.uuid4())
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


def hs256_with_the_public_key(world, record) -> str:
    """The classic confusion attack: HMAC keyed with the verifier's public key, hoping it is used as a secret."""
    from export_pipelines.delivery.links import signing_keys

    keys = signing_keys()
    public = keys.keys[keys.active_kid].public_key()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.active_kid}).encode())
    payload = b64(json.dumps(claims_of(world, record)).encode())
    for secret in (public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
                   public.public_bytes(Encoding.Raw, PublicFormat.Raw)):  # fmt: skip
        yield f"{header}.{payload}." + b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())


def bad_tokens(world):
    from export_pipelines.delivery.links import signing_keys

    record, kid = world.small, signing_keys().active_kid
    good = world.link(record).token
    yield "tampered", tampered(good), 401
    other_key = Ed25519PrivateKey.generate()
    yield "wrong key", jwt.encode(claims_of(world, record), other_key, algorithm="EdDSA", headers={"kid": kid}), 401
    yield "unknown kid", jwt.encode(claims_of(world, record), other_key, algorithm="EdDSA", headers={"kid": "x"}), 401
    yield "alg none", jwt.encode(claims_of(world, record), None, algorithm="none", headers={"kid": kid}), 401
    header, payload, _ = good.split(".")
    yield "alg none, signature kept", b64(json.dumps({"alg": "none", "kid": kid}).encode()) + f".{payload}.{_}", 401
    for confused in hs256_with_the_public_key(world, record):
        yield "HS256 with the public key", confused, 401
    yield "wrong audience", signed(claims_of(world, record, aud="export-pipelines")), 403
    yield "no file key", signed({k: v for k, v in claims_of(world, record).items() if k != "file_key"}), 401
    yield "unknown run", signed(claims_of(world, record, run_id=str(uuid.uuid4()))), 404
    yield "another file key", signed(claims_of(world, record, file_key=world.big.file_key)), 404
    yield "expired", signed(claims_of(world, record, exp=int(world.clock().timestamp()) - 1)), 410


def test_every_bad_token_is_refused_with_its_status_and_no_file_bytes(world, clock):
    plaintext = world.plaintext(world.small)
    for case, token, status in bad_tokens(world):
        for suffix in ("", "/file"):
            as_json = requests.get(f"{world.server.url}/d/{token}{suffix}", headers=JSON, timeout=30)
            as_page = requests.get(f"{world.server.url}/d/{token}{suffix}", timeout=30)

            assert as_json.status_code == status, (case, suffix, as_json.text)
            assert as_page.status_code == status, (case, suffix)
            assert as_json.json()["status"] == status and as_json.json()["message"], case
            assert as_page.headers["content-type"].startswith("text/html") and "<h1>" in as_page.text
            for body in (as_json.content, as_page.content):
                assert b"Traceback" not in body and plaintext[:40] not in body, case


def test_an_expired_link_answers_410_when_the_clock_passes_its_expiry(world, clock):
    link = world.link(world.small, ttl=timedelta(hours=1))
    url = served(world, link.url)
    assert requests.get(url, timeout=30).status_code == 200

    clock.fixed = link.expires_at + timedelta(seconds=1)
    refused = requests.get(url + "/file", headers=JSON, timeout=30)

    assert refused.status_code == 410 and refused.json()["error"] == "expired"
    clock.fixed = link.expires_at - timedelta(seconds=1)
    assert requests.get(url + "/file", timeout=30).status_code == 200


def test_a_link_never_outlives_the_file(world, clock):
    from datetime import datetime

    link = world.link(world.small, ttl=timedelta(days=3650))

    assert link.expires_at == datetime.fromisoformat(world.small.expires_at).replace(microsecond=0)


def test_a_deleted_file_answers_410_and_says_to_re_run_the_export(world, clock):
    record = world.export(user="admin", dataset="customers", format="json")
    url = served(world, world.link(record).url)
    assert requests.get(url + "/file", timeout=30).status_code == 200

    world.storage.inner.delete_prefix(record.file_key.rsplit("/", 1)[0] + "/")

    for suffix in ("", "/file"):
        refused = requests.get(url + suffix, headers=JSON, timeout=30)
        assert refused.status_code == 410 and refused.json()["error"] == "deleted"
        assert "re-run the export" in refused.json()["message"]
    assert "re-run the export" in requests.get(url, timeout=30).text.lower()


TRAVERSALS = [
    "/d/../../etc/passwd",
    "/d/..%2f..%2fetc%2fpasswd",
    "/d/%2e%2e/%2e%2e/etc/passwd",
    "/d/%2e%2e%2f%2e%2e%2fetc%2fpasswd/file",
    "/d/..%252f..%252fetc%252fpasswd",
    "/d/....//....//etc/passwd",
    "/d/..\\..\\etc\\passwd",
    "/d/%00/file",
    "/d/../../../../etc/passwd/file",
    "/d/files%2f..%2f..%2fkeys%2fkeyset.json/file",
    "/etc/passwd",
    "/d/a.b.c/../../../../etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_in_the_url_is_a_404_that_touches_no_storage(world, clock, path):
    world.storage.calls.clear()
    host = urlsplit(world.server.url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    connection.request("GET", path, headers=JSON)  # sent as written: no client-side normalisation
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert response.status == 404, (path, body)
    assert b"root:" not in body and b"primaryKeyId" not in body
    assert world.storage.calls == []


@pytest.mark.parametrize("suffix", ["/", "/file/", "/go/"])
def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_the_request_named(world, clock, suffix):
    token = world.link(world.small).token
    host = urlsplit(world.server.url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    connection.request("GET", f"/d/{token}{suffix}", headers={**JSON, "Host": "attacker.example"})
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert response.status == 404 and response.getheader("Location") is None, (response.status, body)
    assert token.encode() not in body

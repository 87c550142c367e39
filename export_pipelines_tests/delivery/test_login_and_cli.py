"""Login mode, the link / revoke / audit commands as a user runs them, and signing-key rotation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from export_pipelines.delivery.links import parse_ttl
from export_pipelines_tests.delivery.conftest import CLI, start_server
from export_pipelines_tests.services import free_port, port_open

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def login_server(world, tmp_path_factory):
    """A second service over the same exports, requiring the app's ES256 sign-in token."""
    from dagster import DagsterInstance

    from export_pipelines.service.app import create_app

    app_key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path_factory.mktemp("app-key") / "app.pem"
    pem.write_bytes(app_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    environ = {**os.environ, "EXPORT_DOWNLOAD_REQUIRE_LOGIN": "1", "EXPORT_APP_JWT_PUBLIC_KEY": str(pem)}
    server = start_server(create_app(instance=DagsterInstance.get(), storage=world.storage.inner, environ=environ))
    try:
        yield server, app_key
    finally:
        server.stop()


def app_token(key, sub: str, roles=(), audience="export-pipelines", algorithm="ES256") -> str:
    claims = {"sub": sub, "aud": audience, "roles": list(roles), "exp": int(time.time()) + 600}
    return jwt.encode(claims, key, algorithm=algorithm)


def test_login_mode_lets_the_owner_and_admins_in_and_no_one_else(world, clock, login_server):
    server, key = login_server
    url = server.url + urlsplit(world.link(world.small).url).path + "/file"  # the analyst's export
    other_key = ec.generate_private_key(ec.SECP256R1())

    def status(authorization: str | None) -> int:
        headers = {**JSON, **({"Authorization": authorization} if authorization else {})}
        return requests.get(url, headers=headers, timeout=30).status_code

    assert status(f"Bearer {app_token(key, 'analyst')}") == 200
    assert status(f"Bearer {app_token(key, 'boss', roles=['admin'])}") == 200
    assert status(f"Bearer {app_token(key, 'auditor')}") == 403
    assert status(None) == 401
    assert status("Basic YW5hbHlzdDp4") == 401
    assert status(f"Bearer {app_token(other_key, 'analyst')}") == 401
    assert status(f"Bearer {app_token(key, 'analyst', audience='another-app')}") == 401
    assert status(f"Bearer {app_token(b'an HMAC secret of at least 32 bytes', 'analyst', algorithm='HS256')}") == 401
    missing = requests.get(url, timeout=30)
    assert missing.headers["www-authenticate"].startswith("Bearer") and "sign in" in missing.text.lower()


def test_link_json_mints_a_working_link_bounded_by_its_ttl(world, clock):
    before = datetime.now(UTC)
    done = world.cli("link", world.small.run_id, "--ttl", "1d", "--json")

    assert done.returncode == 0, done.stderr
    link = json.loads(done.stdout)
    assert set(link) == {"url", "token", "expires_at"} and link["url"].endswith("/d/" + link["token"])
    assert link["url"].startswith("http://127.0.0.1:8080/d/")
    expires = datetime.fromisoformat(link["expires_at"])
    assert before + timedelta(hours=23) < expires <= datetime.now(UTC) + timedelta(days=1)
    assert requests.get(f"{world.server.url}/d/{link['token']}/file", timeout=30).status_code == 200


def test_export_json_and_the_audit_record_carry_a_link(world, clock):
    done = world.cli("export", "--user", "admin", "--dataset", "customers", "--format", "jsonl", "--json")
    assert done.returncode == 0, done.stderr
    exported = json.loads(done.stdout)

    audited = json.loads(world.cli("audit", "--json").stdout)

    token = exported["link"].rsplit("/", 1)[1]
    assert requests.get(f"{world.server.url}/d/{token}/file", timeout=30).status_code == 200
    mine = next(r for r in audited if r["run_id"] == exported["run_id"])
    assert mine["link"] and mine["link"] != exported["link"], "minted when read: a fresh link each time"


def test_revoke_makes_every_link_of_the_export_410_and_no_new_link_is_minted(world, clock):
    record = world.export(user="analyst", dataset="orders", format="json", columns=["order_id"])
    links = [world.link(record) for _ in range(2)]
    for link in links:
        assert requests.get(f"{world.server.url}/d/{link.token}/file", timeout=30).status_code == 200

    done = world.cli("revoke", record.run_id)

    assert done.returncode == 0 and "410" in done.stdout, done.stderr
    for link in links:
        refused = requests.get(f"{world.server.url}/d/{link.token}/file", headers=JSON, timeout=30)
        assert refused.status_code == 410 and refused.json()["error"] == "revoked"
    page = requests.get(f"{world.server.url}/d/{links[0].token}", timeout=30)
    assert page.status_code == 410 and "withdrawn" in page.text
    again = world.cli("link", record.run_id)
    assert again.returncode == 2 and "revoked" in again.stderr and "Traceback" not in again.stderr
    assert json.loads(world.cli("audit", "--json").stdout)[0]["link"] is None


def test_audit_downloads_lists_downloads_and_refusals(world, clock):
    record = world.export(user="analyst", dataset="orders", format="csv", columns=["order_id"])
    token = world.link(record).token
    requests.get(f"{world.server.url}/d/{token}/file", timeout=30)
    requests.get(f"{world.server.url}/d/{token}/file", headers={"Range": "bytes=0-9"}, timeout=30)
    clock.fixed = datetime.now(UTC) + timedelta(days=400)
    requests.get(f"{world.server.url}/d/{token}/file", timeout=30)
    clock.fixed = None
    requests.get(f"{world.server.url}/d/{token[:-4]}AAAA/file", timeout=30)

    # A streamed download is recorded when its stream ends, after the client has its last byte.
    deadline = time.monotonic() + 30
    while len(mine := json.loads(world.cli("audit", "--downloads", "--run", record.run_id, "--json").stdout)) < 3:
        assert time.monotonic() < deadline, mine
        time.sleep(0.5)
    everyone = world.cli("audit", "--downloads")

    assert sorted((a["status"], a["outcome"], a["bytes_sent"], a["range"] or "") for a in mine) == [
        (200, "complete", record.bytes, ""),
        (206, "partial", 10, f"bytes 0-9/{record.bytes}"),
        (410, "expired", 0, ""),
    ]
    assert {a["owner"] for a in mine} == {"analyst"} and all(a["client"] == "127.0.0.1" for a in mine)
    assert everyone.returncode == 0 and "invalid" in everyone.stdout and record.run_id in everyone.stdout


def test_rotated_signing_keys_keep_old_links_working_until_they_expire(world, clock):
    from export_pipelines.delivery.links import signing_keys

    old = world.link(world.small)
    old_kid = signing_keys().active_kid

    done = world.cli("link-keys", "rotate")

    assert done.returncode == 0, done.stderr
    new = world.link(world.small)
    assert jwt.get_unverified_header(new.token)["kid"] != old_kid == jwt.get_unverified_header(old.token)["kid"]
    for link in (old, new):
        assert requests.get(f"{world.server.url}/d/{link.token}/file", timeout=30).status_code == 200
    assert "d" not in next(k for k in json.loads(signing_keys().to_json())["keys"] if k["kid"] == old_kid)


def test_the_default_signing_key_file_is_private(world):
    from export_pipelines.security.signing_keys import default_signing_keys_path

    path = default_signing_keys_path(world.env["EXPORT_DATA_DIR"])

    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("15m", 900), ("12h", 43200), ("1d", 86400),
                                               ("2w", 1209600), ("P7D", 604800), ("PT1H", 3600)])  # fmt: skip
def test_link_lifetimes_parse(text, seconds):
    assert parse_ttl(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0", "-1d", "1y", "soon"])
def test_bad_link_lifetimes_are_refused(text):
    with pytest.raises(ValueError):
        parse_ttl(text)


@pytest.mark.parametrize("roles", [{"admin": False}, {"admin": True}, "admin", ["admin", 1], 7, None])
def test_roles_that_are_not_a_list_of_strings_are_refused(login_server, roles):
    from export_pipelines.security.app_tokens import AppTokenError, AppTokenVerifier

    server, key = login_server
    verifier = server.server.config.app.state.service.login
    token = jwt.encode({"sub": "auditor", "aud": "export-pipelines", "roles": roles, "exp": int(time.time()) + 600},
                       key, algorithm="ES256")  # fmt: skip

    assert isinstance(verifier, AppTokenVerifier)
    with pytest.raises(AppTokenError, match="'roles' must be a list of strings"):
        verifier.verify(f"Bearer {token}")


def test_an_object_of_roles_does_not_open_another_users_export(world, login_server):
    server, key = login_server
    url = server.url + urlsplit(world.link(world.small).url).path + "/file"
    token = jwt.encode({"sub": "auditor", "aud": "export-pipelines", "roles": {"admin": False},
                        "exp": int(time.time()) + 600}, key, algorithm="ES256")  # fmt: skip

    refused = requests.get(url, headers={**JSON, "Authorization": f"Bearer {token}"}, timeout=30)

    assert refused.status_code == 401 and "roles" in refused.json()["message"]


def test_serve_runs_the_download_service_as_its_own_process_until_sigterm(world, tmp_path):
    """`export-pipelines serve` as an operator starts it: the instance, keys and files of its environment."""
    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env=world.env,
                                   stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not port_open("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        link = json.loads(world.cli("link", world.small.run_id, "--json").stdout)
        page = requests.get(f"http://127.0.0.1:{port}/d/{link['token']}", timeout=60)
        file = requests.get(f"http://127.0.0.1:{port}/d/{link['token']}/file", timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)

    assert page.status_code == 200 and 'id="download"' in page.text
    assert file.status_code == 200 and file.content == world.plaintext(world.small)
    assert "server" not in {name.lower() for name in file.headers}  # no server banner
    said = log.read_text(errors="replace")
    # A graceful stop: uvicorn shuts down, then ends by the signal it caught (as a supervisor expects).
    assert code in (0, -signal.SIGTERM) and "Shutting down" in said, (code, said[-2000:])
    assert "Traceback" not in said and link["token"] not in said  # the access log names routes, not tokens

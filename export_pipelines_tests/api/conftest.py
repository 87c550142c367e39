"""A deployment for the export API: the project's dagster.yaml (the gate as run coordinator), a seeded SQLite
source of its own, one finished export, and the download service on uvicorn with an application key (ES256).

No daemon here: what the API submits stays queued, which is what most tests look at; the test that needs
a run launched and finished starts ``dagster dev`` (test_api_daemon.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from export_pipelines.request.model import ExportRequest
from export_pipelines_tests.automation.dagster_dev import PROJECT
from export_pipelines_tests.delivery.conftest import Server, start_server
from export_pipelines_tests.jobs.conftest import SEED_ROWS, postgres_source  # noqa: F401 (a fixture, reused)

CLEARED = (
    "EXPORT_STORAGE_URL",
    "SMTP_HOST",
    "EXPORT_LINK_SIGNING_KEYS",
    "EXPORT_LINK_TTL",
    "EXPORT_PUBLIC_URL",
    "EXPORT_DOWNLOAD_REQUIRE_LOGIN",
    "EXPORT_ENCRYPTION_KEYSET",
    "EXPORT_APP_JWKS_URL",
    "EXPORT_CATALOG_PATH",
    "EXPORT_MAX_QUEUED_PER_USER",
    "EXPORT_DEDUPE_WINDOW_SECONDS",
    "EXPORT_TRUST_UNSIGNED_SUBMISSIONS",
)


class Application:
    """Signs the application's JWTs, as its identity provider would."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_pem = self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def token(self, sub: str, roles=(), audience: str = "export-pipelines", lifetime: int = 600) -> str:
        claims = {"sub": sub, "aud": audience, "roles": list(roles), "exp": int(time.time()) + lifetime}
        return jwt.encode(claims, self.key, algorithm="ES256")

    def client(self, server: Server, sub: str, roles=(), **headers) -> httpx.Client:
        """An HTTP client of the API, signed in as ``sub``."""
        auth = {"Authorization": f"Bearer {self.token(sub, roles)}", **headers}
        return httpx.Client(base_url=f"{server.url}/api/v1", headers=auth, timeout=60)


@dataclass
class ApiWorld:
    app: Application
    server: Server
    finished: object  # the AuditRecord of an export of analyst's that succeeded (run by the CLI's path)
    source: str  # the seeded source database's URL

    def client(self, sub: str, roles=(), **headers) -> httpx.Client:
        return self.app.client(self.server, sub, roles, **headers)

    def local(self, url: str) -> str:
        """A URL the service built on EXPORT_PUBLIC_URL (its default here), on this test's port."""
        return url.replace("127.0.0.1:8080", self.server.url.removeprefix("http://"), 1)


def write_instance(home, configure=None) -> None:
    """The project's dagster.yaml in ``home``: the submission gate and the queue, as a deployment has them."""
    home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    if configure:
        configure(config)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def api_world(tmp_path_factory):
    """Its own seeded source: the subscription tests create the subscriptions table in it, which a shared
    source must not get (a daemon of another test would run what it holds)."""
    from dagster import DagsterInstance

    from export_pipelines.automation.launch import run_export
    from export_pipelines.demo.seed import seed_demo
    from export_pipelines.service.app import create_app

    root = tmp_path_factory.mktemp("api")
    source = f"sqlite:///{root / 'source.sqlite'}"
    seed_demo(source, rows=SEED_ROWS)
    write_instance(root / "home")
    app = Application()
    (root / "app.pem").write_bytes(app.public_pem)
    settings = {"EXPORT_DATA_DIR": str(root / "var"), "DAGSTER_HOME": str(root / "home"),
                "EXPORT_SOURCE_DB_URL": source, "EXPORT_APP_JWT_PUBLIC_KEY": str(root / "app.pem")}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name in CLEARED:
            patch.delenv(name, raising=False)
        for name, value in settings.items():
            patch.setenv(name, value)
        instance = DagsterInstance.get()
        request = ExportRequest(user="analyst", dataset="orders", format="csv", columns=["order_id", "amount"])
        finished, _ = run_export(request, instance, "CRITICAL")
        assert finished.status == "SUCCESS", finished.error
        server = start_server(create_app(instance=instance, environ=dict(os.environ)))
        try:
            yield ApiWorld(app, server, finished, source)
        finally:
            server.stop()

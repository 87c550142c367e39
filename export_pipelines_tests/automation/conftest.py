"""Keys of a stand-in application that signs request tokens, the project's instance, runs placed straight in it."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from export_pipelines.request.model import ExportRequest, canonical_digest
from export_pipelines.security.request_tokens import PUBLIC_KEY_ENV, issue_request_token

PROJECT_DAGSTER_YAML = Path(__file__).parents[2] / "dagster.yaml"


class Application:
    """Signs request tokens the way the application in front of the deployment does."""

    def __init__(self, private_key):
        self.private_pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, request: ExportRequest, user: str | None = None, **options) -> str:
        digest = canonical_digest(request.run_config()["ops"]["validate_request"]["config"])
        return issue_request_token(self.private_pem, user or request.user, digest, **options)


@pytest.fixture
def application(tmp_path, monkeypatch):
    """An Ed25519 application key; the deployment is given its public half."""
    app = Application(ed25519.Ed25519PrivateKey.generate())
    (tmp_path / "request-token.pub.pem").write_bytes(app.public_pem)
    monkeypatch.setenv(PUBLIC_KEY_ENV, str(tmp_path / "request-token.pub.pem"))
    return app


@pytest.fixture
def p256_application():
    return Application(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def instance(dagster_home, tmp_path, monkeypatch):
    for name in ("EXPORT_TRUST_UNSIGNED_SUBMISSIONS", "EXPORT_MAX_QUEUED_PER_USER", "EXPORT_DEDUPE_WINDOW_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    with DagsterInstance.get() as instance:
        yield instance


@pytest.fixture(params=["sqlite", "postgres"])
def project_instance(request, dagster_home, monkeypatch):
    """The project's dagster.yaml (the gate, trusting unsigned submissions; the running-limit launcher) with the
    gate's settings at their defaults, on SQLite (one machine, the lock is flock) or on PostgreSQL (as a deployment
    with several machines has it, the lock is an advisory lock)."""
    for name in ("EXPORT_MAX_QUEUED_PER_USER", "EXPORT_DEDUPE_WINDOW_SECONDS", "EXPORT_ADMISSION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(dagster_home.parent / "var"))
    shutil.copy(PROJECT_DAGSTER_YAML, dagster_home / "dagster.yaml")
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")("dagster_gate")
        config = yaml.safe_load((dagster_home / "dagster.yaml").read_text())
        config["storage"] = {"postgres": {"postgres_url": url.replace("postgresql+psycopg://", "postgresql://")}}
        (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with DagsterInstance.get() as instance:
        yield instance


def place_run(instance: DagsterInstance, status: DagsterRunStatus, tags: dict, run_config: dict | None = None) -> str:
    """A run of export_job in ``status``, as if it had been submitted earlier."""
    run = DagsterRun(
        job_name="export_job", run_id=str(uuid.uuid4()), status=status, tags=tags, run_config=run_config or {},
        remote_job_origin=_origin(),
    )  # fmt: skip
    instance.add_run(run)
    return run.run_id


def _origin():
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="export_pipelines.definitions"), location_name="export_pipelines"
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), "export_job")

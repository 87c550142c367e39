"""An S3 endpoint of the test's own: ``moto_server`` on a free loopback port, stopped at the end.

A real HTTP server in another process, so the S3 backend is tested through botocore's whole stack
(signing, retries, streaming bodies, multipart) rather than patched calls. Each test takes a fresh
bucket; ``s3_env`` points the backend at the server through the environment, as a deployment does,
with dummy credentials (moto accepts any) and nothing from the machine's AWS configuration.
Without the ``moto_server`` binary (moto[server]) the tests skip loudly, or fail in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from export_pipelines_tests.services import free_port, port_open, unavailable

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
# Settings the backend reads: cleared per test so a developer's shell cannot leak into the tests.
BACKEND_ENV = (
    "EXPORT_S3_REGION", "EXPORT_S3_SSE", "EXPORT_S3_SSE_KMS_KEY_ID", "EXPORT_S3_MAX_ATTEMPTS",
    "EXPORT_S3_CONNECT_TIMEOUT", "EXPORT_S3_READ_TIMEOUT", "EXPORT_S3_PART_SIZE_MB", "EXPORT_S3_CONCURRENCY",
    "EXPORT_S3_COPY_PART_SIZE_MB",
    "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
)  # fmt: skip


def moto_server_binary() -> str | None:
    """Next to this Python first (a venv's bin is often not on PATH), then on PATH."""
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


@dataclass
class S3Server:
    """A moto_server process on 127.0.0.1:port, with a client of its own for setting up and inspecting."""

    binary: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    _client: object = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, **DUMMY_CREDENTIALS)
        return self._client

    def start(self) -> None:
        command = [self.binary, "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start on port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def create_bucket(self, purpose: str = "test") -> str:
        name = f"export-{purpose}-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def stored(self, bucket: str, prefix: str = "") -> list[str]:
        """Everything under ``prefix`` in ``bucket``: objects, and uploads still in progress (marked)."""
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [item["Key"][len(prefix) :] for item in page.get("Contents", [])]
        uploads = self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        found += [f"{item['Key'][len(prefix) :]} (unfinished upload)" for item in uploads]
        return sorted(found)

    def empty(self, bucket: str) -> None:
        """Drop a bucket's objects: moto keeps them in memory for the whole session."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


@pytest.fixture(scope="session")
def s3_server():
    binary = moto_server_binary()
    if binary is None:
        unavailable("S3 (moto server)", "no moto_server next to Python or on PATH (pip install 'moto[server]')")
    server = S3Server(binary)
    try:
        server.start()
    except RuntimeError as error:
        unavailable("S3 (moto server)", str(error))
    try:
        yield server
    finally:
        server.stop()


def use_s3_server(server: S3Server, patch: pytest.MonkeyPatch, folder: Path) -> S3Server:
    """The environment a deployment on this S3 endpoint would have, with dummy credentials."""
    for name in BACKEND_ENV:
        patch.delenv(name, raising=False)
    patch.setenv("AWS_ACCESS_KEY_ID", DUMMY_CREDENTIALS["aws_access_key_id"])
    patch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_CREDENTIALS["aws_secret_access_key"])
    patch.setenv("AWS_DEFAULT_REGION", DUMMY_CREDENTIALS["region_name"])
    patch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    patch.setenv("EXPORT_S3_ENDPOINT_URL", server.endpoint_url)
    return server


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path):
    """The environment a deployment on this S3 endpoint would have, with dummy credentials."""
    return use_s3_server(s3_server, monkeypatch, tmp_path)

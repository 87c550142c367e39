"""KMS for the security tests: moto_server answers KMS on the same endpoint as S3 (``s3_server``)."""

from __future__ import annotations

import pytest

from export_pipelines.security.kms import KMS_ENDPOINT_ENV, KMS_KEY_ENV
from export_pipelines_tests.s3_server import DUMMY_CREDENTIALS


class KmsServer:
    """Creates symmetric KMS keys on the moto endpoint and gives their ARNs."""

    def __init__(self, endpoint_url: str):
        import boto3

        self.endpoint_url = endpoint_url
        self.client = boto3.session.Session().client("kms", endpoint_url=endpoint_url, **DUMMY_CREDENTIALS)

    def create_key(self) -> str:
        return self.client.create_key(Description="export_pipelines test keyset wrapper")["KeyMetadata"]["Arn"]


@pytest.fixture
def kms(s3_env, monkeypatch) -> KmsServer:
    """A KMS endpoint set as a deployment sets it (``EXPORT_KMS_ENDPOINT_URL``), dummy credentials in the env."""
    monkeypatch.delenv(KMS_KEY_ENV, raising=False)
    monkeypatch.setenv(KMS_ENDPOINT_ENV, s3_env.endpoint_url)
    return KmsServer(s3_env.endpoint_url)

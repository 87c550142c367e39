"""What the S3 backend needs besides its storage logic: settings from the environment, the shared
client, transfer configuration, and the translation of botocore's errors into typed ones.

Settings are read when a storage is built (run time), never at import, so a deployment changes
endpoint or encryption through its environment alone. Building a boto3 client costs tens of
milliseconds (it loads the service model), and ops build their storage once per step, so clients
are cached in-process per settings and per process id (a forked child must not share its parent's
connection pool).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from s3transfer.manager import TransferConfig

from export_pipelines.errors import PermanentExportError, TransientDeliveryError

MIB = 1 << 20
_SSE_MODES = ("AES256", "aws:kms")
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests", "OperationAborted",
}  # fmt: skip
_DENIED_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
    "AllAccessDisabled", "AccountProblem",
}  # fmt: skip
_CLIENTS: dict[tuple, object] = {}
_CLIENTS_LOCK = threading.Lock()


class StorageConfigurationError(PermanentExportError):
    """The storage cannot work as configured (no bucket, no access, bad settings): fix the deployment, then rerun."""


@dataclass(frozen=True)
class S3Settings:
    """Everything about reaching the store except the bucket and prefix (which the URL gives)."""

    endpoint_url: str | None = None  # EXPORT_S3_ENDPOINT_URL: MinIO, Ceph, moto; None for AWS
    region: str | None = None  # EXPORT_S3_REGION; None lets boto3's chain decide
    sse: str | None = None  # EXPORT_S3_SSE: AES256 or aws:kms, on every write and copy
    sse_kms_key_id: str | None = None  # EXPORT_S3_SSE_KMS_KEY_ID, with aws:kms
    max_attempts: int = 5  # EXPORT_S3_MAX_ATTEMPTS: botocore's standard retry mode, first try included
    connect_timeout: float = 10.0  # EXPORT_S3_CONNECT_TIMEOUT, seconds
    read_timeout: float = 60.0  # EXPORT_S3_READ_TIMEOUT, seconds
    part_size: int = 8 * MIB  # EXPORT_S3_PART_SIZE_MB: files up to 10,000 parts (80 GB at 8 MiB)
    concurrency: int = 4  # EXPORT_S3_CONCURRENCY: parts uploading while the writer goes on
    # EXPORT_S3_COPY_PART_SIZE_MB: server-side copies (publishing a file) of more than this are multipart,
    # in parts of this size; large parts keep the request count low, since no byte passes through us.
    copy_part_size: int = 256 * MIB

    def __post_init__(self):
        if self.sse not in (None, *_SSE_MODES):
            raise StorageConfigurationError(f"EXPORT_S3_SSE={self.sse!r}: use AES256 or aws:kms, or leave it unset")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise StorageConfigurationError("EXPORT_S3_SSE_KMS_KEY_ID is set: set EXPORT_S3_SSE=aws:kms as well")
        if not 5 * MIB <= self.part_size <= 5 * 1024 * MIB:
            raise StorageConfigurationError("EXPORT_S3_PART_SIZE_MB must be between 5 and 5120 (S3's part limits)")
        if not 5 * MIB <= self.copy_part_size <= 5 * 1024 * MIB:
            raise StorageConfigurationError(
                "EXPORT_S3_COPY_PART_SIZE_MB must be between 5 and 5120 (S3's part limits)"
            )
        if self.max_attempts < 1 or self.concurrency < 1:
            raise StorageConfigurationError("EXPORT_S3_MAX_ATTEMPTS and EXPORT_S3_CONCURRENCY must be at least 1")

    @classmethod
    def from_env(cls, environ=None) -> S3Settings:
        env = os.environ if environ is None else environ

        def number(name: str, kind, default):
            value = env.get(name, "").strip()
            try:
                return kind(value) if value else default
            except ValueError:
                raise StorageConfigurationError(f"{name}={value!r} is not a number") from None

        return cls(
            endpoint_url=env.get("EXPORT_S3_ENDPOINT_URL") or None,
            region=env.get("EXPORT_S3_REGION") or None,
            sse=env.get("EXPORT_S3_SSE") or None,
            sse_kms_key_id=env.get("EXPORT_S3_SSE_KMS_KEY_ID") or None,
            max_attempts=number("EXPORT_S3_MAX_ATTEMPTS", int, cls.max_attempts),
            connect_timeout=number("EXPORT_S3_CONNECT_TIMEOUT", float, cls.connect_timeout),
            read_timeout=number("EXPORT_S3_READ_TIMEOUT", float, cls.read_timeout),
            part_size=number("EXPORT_S3_PART_SIZE_MB", int, cls.part_size // MIB) * MIB,
            concurrency=number("EXPORT_S3_CONCURRENCY", int, cls.concurrency),
            copy_part_size=number("EXPORT_S3_COPY_PART_SIZE_MB", int, cls.copy_part_size // MIB) * MIB,
        )

    def encryption_args(self) -> dict[str, str]:
        """The server-side encryption arguments of every write and copy."""
        if not self.sse:
            return {}
        if self.sse_kms_key_id:
            return {"ServerSideEncryption": self.sse, "SSEKMSKeyId": self.sse_kms_key_id}
        return {"ServerSideEncryption": self.sse}

    def client_config(self) -> Config:
        custom = {}
        if self.endpoint_url:
            # S3-compatible stores: path-style addressing (no DNS per bucket), and checksums only where
            # the API requires them (older MinIO and Ceph refuse botocore's default CRC32 trailers).
            custom = {"s3": {"addressing_style": "path"}, "request_checksum_calculation": "when_required",
                      "response_checksum_validation": "when_required"}  # fmt: skip
        return Config(
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=max(10, 2 * self.concurrency + 2),
            **custom,
        )


def client_for(settings: S3Settings):
    """The process's S3 client for ``settings``, built once (a boto3 client is thread-safe; a session is not)."""
    key = (os.getpid(), settings.endpoint_url, settings.region, settings.max_attempts, settings.connect_timeout,
           settings.read_timeout, settings.concurrency)  # fmt: skip
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            session = boto3.session.Session()
            client = session.client(
                "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=settings.client_config()
            )
            _CLIENTS[key] = client
    return client


def upload_config(settings: S3Settings) -> TransferConfig:
    """One part's worth decides PutObject or multipart; ``concurrency`` parts in memory and in flight."""
    return TransferConfig(
        multipart_threshold=settings.part_size,
        multipart_chunksize=settings.part_size,
        max_request_concurrency=settings.concurrency,
        max_in_memory_upload_chunks=settings.concurrency,
        max_submission_concurrency=1,
    )


def copy_config(settings: S3Settings) -> TransferConfig:
    """Server-side copies move no bytes through us: large parts keep the request count low."""
    return TransferConfig(
        multipart_threshold=settings.copy_part_size,
        multipart_chunksize=settings.copy_part_size,
        max_request_concurrency=settings.concurrency,
    )


@contextmanager
def translated(url: str, endpoint: str | None, key: str | None = None) -> Iterator[None]:
    """Turn botocore's errors into typed ones that say what to do; other errors pass unchanged."""
    where = f"storage {url} (endpoint {endpoint or 'AWS default'})"
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code == "NoSuchBucket" or (error.operation_name == "HeadBucket" and code in ("404", "NotFound")):
            raise StorageConfigurationError(
                f"{where}: the bucket does not exist; create the bucket or fix EXPORT_STORAGE_URL"
            ) from None
        if code in _DENIED_CODES or status == 403:
            raise StorageConfigurationError(
                f"{where}: access denied ({code or status}) on {error.operation_name}"
                f"{f' of {key!r}' if key else ''}; check the credentials (environment, AWS_PROFILE or "
                "instance role) and that the bucket policy allows this"
            ) from None
        if code.startswith("KMS.") or code == "KMSInvalidStateException":
            raise StorageConfigurationError(
                f"{where}: the KMS key refused the request ({code}); check EXPORT_S3_SSE_KMS_KEY_ID and the key policy"
            ) from None
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            raise TransientDeliveryError(f"{where}: {code or status} on {error.operation_name}; retry later") from None
        raise
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as error:
        raise StorageConfigurationError(
            f"{where}: no usable credentials ({error}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or give the machine an instance role"
        ) from None
    except (ConnectionError, HTTPClientError) as error:
        raise TransientDeliveryError(f"{where}: unreachable ({type(error).__name__}); retry later") from error

"""S3 and S3-compatible object stores (MinIO, Ceph, moto) as Storage, chosen by ``s3://bucket/prefix``.

Only the bucket and prefix come from the URL. The endpoint, region, encryption and retry settings
are read from the environment when the storage is built (see ``S3Settings``), and credentials only
ever come from boto3's own chain (environment, profile, instance role): a URL ends up in logs and
run history, so it must never carry a secret.

Writes go through s3transfer's managed upload, fed by a ``BoundedPipe`` (see ``S3Storage.open_write``).
Failures come out typed: a missing bucket, denied access or missing credentials are
``StorageConfigurationError`` (permanent: retrying cannot fix them), while throttling, 5xx answers,
timeouts and refused connections that outlast botocore's own retries are ``TransientDeliveryError``,
which the ops' retry policy retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from s3transfer.manager import TransferManager
from s3transfer.subscribers import BaseSubscriber

from export_pipelines.storage.base import AtomicWrite, FileAttributes, ListedFile, Storage, check_key
from export_pipelines.storage.pipe import BoundedPipe, PipeAborted, PipeClosed
from export_pipelines.storage.s3_client import (
    S3Settings,
    StorageConfigurationError,
    client_for,
    copy_config,
    translated,
    upload_config,
)

__all__ = ["S3Settings", "S3Storage", "StorageConfigurationError"]

_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys a request
_MISSING = {"404", "NoSuchKey", "NotFound"}
# What may wait between the writer and the uploader; the uploader gathers its part as it reads, so
# a small pipe costs no throughput and keeps a part's worth of memory.
_PIPE_LIMIT = 2 << 20


class StorageRangeNotSatisfiable(Exception):
    """A ranged GET started past the end of the object."""


class _ReaderGone(BaseSubscriber):
    """Tell the pipe when the upload is over, so a writer blocked on a failed upload wakes up."""

    def __init__(self, pipe: BoundedPipe):
        self._pipe = pipe

    def on_done(self, future, **kwargs):
        self._pipe.reader_gone()


class S3Storage(Storage):
    """Objects under ``prefix`` in ``bucket``; one (cached, thread-safe) boto3 client per storage."""

    scheme = "s3"

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None):
        self.bucket = bucket
        self.prefix = f"{check_key(prefix.strip('/'))}/" if prefix.strip("/") else ""
        self.settings = settings or S3Settings.from_env()
        self._bucket_seen = False  # a 404 on HEAD means a missing key once the bucket is known to exist

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        parsed = urlparse(url)
        if parsed.username or parsed.password:
            raise StorageConfigurationError(
                "the storage URL must not carry credentials: give them through boto3's usual chain "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)"
            )
        if not parsed.hostname or parsed.query or parsed.fragment:
            raise StorageConfigurationError(
                f"storage URL {url!r}: write s3://bucket or s3://bucket/prefix (the endpoint, region and "
                "encryption come from EXPORT_S3_ENDPOINT_URL, EXPORT_S3_REGION and EXPORT_S3_SSE)"
            )
        return cls(parsed.netloc, parsed.path, S3Settings.from_env())

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def client(self):
        """The process's client for these settings: built on first use, then shared (clients are thread-safe)."""
        return client_for(self.settings)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _calls(self, key: str | None = None):
        return translated(self.url, self.settings.endpoint_url, key)

    # ---- writing ------------------------------------------------------------------------------

    @contextmanager
    def open_write(self, key: str, checksum: bool = True) -> Iterator[AtomicWrite]:
        """Stream into s3transfer's managed upload through a bounded pipe, in constant memory.

        Why s3transfer and a pipe rather than hand-driven multipart calls: s3transfer already
        decides between one PutObject (under one part) and a multipart upload, uploads parts on its
        own threads while the renderer keeps writing, retries each part from its in-memory copy, and
        aborts the multipart upload when the transfer fails, which is what leaves nothing behind.
        The pipe only has to block the writer when the uploader is behind. Memory is bounded by the
        pipe (2 MiB), the part being gathered and joined, and ``concurrency`` parts in flight plus one
        waiting: with 8 MiB parts and 4 in flight, about 75 MB over an idle process whatever the
        file's size (measured by benchmarks/s3_bench.py; a part size of P allows files up to
        10,000 x P). The object appears only when the upload completes, after the block exits
        cleanly; an error in the block fails the pipe, so the transfer aborts and raises, and the
        block's own error is what propagates. (An abort that itself fails, say on a dead network,
        leaves an incomplete upload: a bucket lifecycle rule ``AbortIncompleteMultipartUpload`` is
        the backstop.)
        """
        object_key = self._key(key)
        pipe = BoundedPipe(_PIPE_LIMIT)
        with self._calls(key), TransferManager(self.client, upload_config(self.settings)) as manager:
            done = [_ReaderGone(pipe)]
            future = manager.upload(pipe, self.bucket, object_key, self.settings.encryption_args(), subscribers=done)
            writer = AtomicWrite(key, pipe, checksum)
            try:
                yield writer
                writer.result = writer.finish()
                pipe.close()
            except PipeClosed:  # the upload failed first: its error says what happened
                future.result()
                raise
            except BaseException:
                pipe.fail()
                try:
                    future.result()
                except PipeAborted:
                    pass
                except Exception:  # noqa: S110 - the block's own error is the one to report
                    pass
                raise
            future.result()

    def move(self, source_key: str, target_key: str, attributes: FileAttributes | None = None) -> None:
        """A server-side copy (managed, so multipart past 5 GB) with the attributes, then delete the source."""
        attributes = attributes or FileAttributes()
        extra = {"MetadataDirective": "REPLACE", "ContentType": attributes.content_type,
                 "Metadata": dict(attributes.metadata), **self.settings.encryption_args()}  # fmt: skip
        if disposition := attributes.content_disposition():
            extra["ContentDisposition"] = disposition
        source = {"Bucket": self.bucket, "Key": self._key(source_key)}
        with self._calls(source_key), TransferManager(self.client, copy_config(self.settings)) as manager:
            try:
                manager.copy(source, self.bucket, self._key(target_key), extra_args=extra).result()
            except ClientError as error:  # the managed copy starts with a HEAD of the source
                if error.response["Error"]["Code"] not in _MISSING:
                    raise
                self._head(source_key)  # FileNotFoundError, or the missing bucket's error
                raise
            self.client.delete_object(Bucket=self.bucket, Key=source["Key"])

    # ---- reading ------------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        """The object's streaming body (``read(n)``, context manager); nothing is held in memory."""
        return self._get(key)["Body"]

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """One ranged GET; b"" past the end (S3 answers 416 there)."""
        if length <= 0:
            return b""
        try:
            response = self._get(key, Range=f"bytes={start}-{start + length - 1}")
        except StorageRangeNotSatisfiable:
            return b""
        with self._calls(key):
            return response["Body"].read()

    def _get(self, key: str, **arguments) -> dict:
        object_key = self._key(key)
        with self._calls(key):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=object_key, **arguments)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code == "InvalidRange":
                    raise StorageRangeNotSatisfiable() from None
                if code in _MISSING:
                    raise FileNotFoundError(f"{self.location(key)} does not exist") from None
                raise

    def _head(self, key: str) -> dict:
        object_key = self._key(key)
        with self._calls(key):
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as error:
                if error.response["Error"]["Code"] not in _MISSING:
                    raise
                if not self._bucket_seen:  # HEAD says 404 for a missing bucket too: tell them apart
                    self.client.head_bucket(Bucket=self.bucket)
                    self._bucket_seen = True
                raise FileNotFoundError(f"{self.location(key)} does not exist") from None
        self._bucket_seen = True
        return response

    def size(self, key: str) -> int:
        return self._head(key)["ContentLength"]

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def attributes(self, key: str) -> dict[str, str]:
        """The object's user metadata (S3 keeps its names lower-case)."""
        return dict(self._head(key).get("Metadata", {}))

    # ---- listing and deleting -----------------------------------------------------------------

    def _objects(self, prefix: str, context: str) -> Iterator[dict]:
        """Every object at the key ``prefix`` and under the folder ``prefix/``, in key order.

        A prefix is a folder, as in a local tree: "b" lists "b/..." but not "bb/...". A file at the
        prefix itself sorts before everything under it, so one request with MaxKeys=1 finds it.
        """
        with self._calls(context):
            if not prefix:
                folder = self.prefix
            else:
                exact = self._key(prefix.rstrip("/"))
                folder = f"{exact}/"
                first = self.client.list_objects_v2(Bucket=self.bucket, Prefix=exact, MaxKeys=1).get("Contents", [])
                if first and first[0]["Key"] == exact:
                    yield first[0]
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                yield from (item for item in page.get("Contents", []) if not item["Key"].endswith("/"))
            self._bucket_seen = True

    def list(self, prefix: str = "") -> Iterator[ListedFile]:
        """Complete objects only: an upload in progress is not an object until it completes."""
        for item in self._objects(prefix, prefix):
            yield ListedFile(item["Key"][len(self.prefix) :], item["Size"], item["LastModified"])

    def delete_prefix(self, prefix: str) -> int:
        """Delete the folder ``prefix`` (or the file at it) in DeleteObjects batches of 1,000."""
        deleted = 0
        batch: list[dict] = []
        for item in self._objects(prefix, prefix):
            batch.append({"Key": item["Key"]})
            if len(batch) == _DELETE_BATCH:
                deleted += self._delete(batch, prefix)
                batch = []
        if batch:
            deleted += self._delete(batch, prefix)
        return deleted

    def _delete(self, batch: list[dict], prefix: str) -> int:
        with self._calls(prefix):
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        if errors := response.get("Errors"):
            first = errors[0]
            raise StorageConfigurationError(
                f"storage {self.url}: {len(errors)} of {len(batch)} objects under {prefix!r} were not deleted "
                f"({first.get('Code')}: {first.get('Message')}); check that the credentials may delete objects"
            )
        return len(batch)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

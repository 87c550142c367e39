"""What only an object store has: multipart uploads in flat memory, aborted uploads, batch deletes,
server-side encryption and copies with attributes, and its failures turned into typed errors.

Every test talks HTTP to a real endpoint: ``moto_server`` in its own process (``s3_server``), or,
for the failures moto cannot be asked for (throttling, denied access, a dead endpoint), a stub HTTP
server answering every request alike, or a port nothing listens on.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from export_pipelines.errors import PermanentExportError, TransientDeliveryError
from export_pipelines.storage import storage_from_url
from export_pipelines.storage.base import FileAttributes
from export_pipelines.storage.s3 import S3Storage, StorageConfigurationError
from export_pipelines.storage.s3_client import S3Settings
from export_pipelines_tests.services import free_port

MIB = 1 << 20

# Runs in a child process, so its peak memory is the upload's alone. VmHWM rather than ru_maxrss:
# Linux carries ru_maxrss over fork and exec, so a child of a big pytest process would report the
# parent's peak and hide its own growth.
UPLOAD_SCRIPT = """
import hashlib, json, os, resource, sys
from export_pipelines.storage import storage_from_url

def peak_mb():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

url, key, megabytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
storage = storage_from_url(url)
storage.client  # imports done and client built: the baseline
block = os.urandom(1 << 20)
expected = hashlib.sha256()
baseline = peak_mb()
with storage.open_write(key) as target:
    for index in range(megabytes):
        if index == megabytes // 2:
            halfway = peak_mb()
        piece = block[index:] + block[:index]
        expected.update(piece)
        target.write(piece)
print(json.dumps({"baseline_mb": baseline, "halfway_mb": halfway, "peak_mb": peak_mb(), "bytes": target.result.bytes,
                  "sha256": target.result.sha256, "expected_sha256": expected.hexdigest()}))
"""


@pytest.fixture
def bucket(s3_env):
    name = s3_env.create_bucket()
    yield name
    s3_env.empty(name)


@pytest.fixture
def storage(bucket) -> S3Storage:
    return storage_from_url(f"s3://{bucket}/root")


def sha256_of_object(client, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    while block := body.read(MIB):
        digest.update(block)
    return digest.hexdigest()


def test_a_file_of_many_parts_uploads_with_flat_memory_and_moves_by_a_multipart_copy(
    s3_env, bucket, storage, monkeypatch
):
    """40 MiB with the smallest parts S3 allows (5 MiB, one in flight) and copies in 16 MiB parts: the
    same code paths as a 300 MiB file at the defaults, an eighth of the bytes through moto."""
    monkeypatch.setenv("EXPORT_S3_PART_SIZE_MB", "5")
    monkeypatch.setenv("EXPORT_S3_CONCURRENCY", "1")
    monkeypatch.setenv("EXPORT_S3_COPY_PART_SIZE_MB", "16")
    storage = storage_from_url(storage.url)  # with those settings
    done = subprocess.run(
        [sys.executable, "-c", UPLOAD_SCRIPT, storage.url, "_staging/big/data.bin", "40"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    child = json.loads(done.stdout.splitlines()[-1])

    # Flat: the second half adds nothing to the peak of the first (buffering would add 20 MiB). The first
    # fills the pipe (2 MiB), the part being gathered and joined, one in flight and one waiting.
    assert child["peak_mb"] - child["halfway_mb"] < 12, f"memory grew with the file: {child}"
    assert child["peak_mb"] - child["baseline_mb"] < 40, f"more memory than a few parts: {child}"
    assert child["bytes"] == 40 * MIB and child["sha256"] == child["expected_sha256"]
    head = s3_env.client.head_object(Bucket=bucket, Key="root/_staging/big/data.bin")
    assert head["ETag"].strip('"').endswith("-8"), "40 MiB in 5 MiB parts is an 8-part multipart upload"
    assert head["ContentLength"] == 40 * MIB

    # Past the copy part size: a multipart server-side copy (16 + 16 + 8 MiB), attributes on the new object.
    storage.move("_staging/big/data.bin", "alice/big/data.bin", FileAttributes("application/x-test", "data.bin"))
    moved = s3_env.client.head_object(Bucket=bucket, Key="root/alice/big/data.bin")
    assert (moved["ContentLength"], moved["ContentType"]) == (40 * MIB, "application/x-test")
    assert moved["ETag"].strip('"').endswith("-3"), "a 3-part copy"
    assert sha256_of_object(s3_env.client, bucket, "root/alice/big/data.bin") == child["expected_sha256"]
    assert not storage.exists("_staging/big/data.bin")


def test_the_copy_part_size_is_read_from_the_environment_and_checked():
    assert S3Settings.from_env({}).copy_part_size == 256 * MIB
    assert S3Settings.from_env({"EXPORT_S3_COPY_PART_SIZE_MB": "64"}).copy_part_size == 64 * MIB
    with pytest.raises(StorageConfigurationError, match="EXPORT_S3_COPY_PART_SIZE_MB must be between 5 and 5120"):
        S3Settings.from_env({"EXPORT_S3_COPY_PART_SIZE_MB": "4"})


def test_an_interrupted_multipart_upload_is_aborted_and_leaves_nothing(s3_env, bucket, storage):
    block = b"\x5a" * MIB

    with pytest.raises(RuntimeError, match="renderer broke"):
        with storage.open_write("run/big.csv") as target:
            for _ in range(40):  # five 8 MiB parts
                target.write(block)
            deadline = time.monotonic() + 30
            while not s3_env.client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
                assert time.monotonic() < deadline, "the multipart upload never started"
                time.sleep(0.05)
            raise RuntimeError("renderer broke")

    assert not storage.exists("run/big.csv")
    assert s3_env.stored(bucket) == [], "no object and no multipart upload in progress"


def test_keys_with_spaces_and_unicode_are_stored_as_written(s3_env, bucket, storage):
    key = "Zoë Åström/März 2024/Bestellungen (1) - 東京.csv"
    with storage.open_write(key) as target:
        target.write("ünïcödé".encode())

    assert s3_env.stored(bucket) == [f"root/{key}"]
    assert storage.read_range(key, 0, 100) == "ünïcödé".encode()
    assert [f.key for f in storage.list("Zoë Åström")] == [key]
    assert storage.location(key) == f"s3://{bucket}/root/{key}"
    assert storage.delete_prefix("Zoë Åström/März 2024") == 1


def test_ranges_past_the_end_are_empty_and_missing_keys_are_not_found(storage):
    with storage.open_write("r/small.bin") as target:
        target.write(b"0123456789")
    with storage.open_write("r/empty.bin"):
        pass

    assert storage.read_range("r/small.bin", 8, 10) == b"89"
    assert storage.read_range("r/small.bin", 10, 10) == b"" == storage.read_range("r/empty.bin", 0, 10)
    for missing in (storage.open_read, storage.size, storage.attributes, lambda key: storage.read_range(key, 0, 1),
                    lambda key: storage.move(key, "r/target.bin")):  # fmt: skip
        with pytest.raises(FileNotFoundError, match="r/missing.bin"):
            missing("r/missing.bin")


def test_delete_prefix_pages_through_thousands_of_keys(s3_env, bucket, storage):
    keys = [f"root/run1/{'sub/' if i % 3 else ''}part-{i:04}.csv" for i in range(2500)]
    others = ["root/run10/part.csv", "root/other/part.csv", "run1/outside-the-root.csv"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3_env.client.put_object(Bucket=bucket, Key=key, Body=b"x"), keys + others))

    assert sum(1 for _ in storage.list("run1")) == 2500
    assert storage.delete_prefix("run1") == 2500
    assert s3_env.stored(bucket) == sorted(others)


def test_a_missing_bucket_is_a_clear_permanent_error(s3_env):
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/exports"
    storage = storage_from_url(url)

    for attempt in (lambda: storage.exists("a.csv"), lambda: list(storage.list("")), lambda: storage.size("a.csv")):
        with pytest.raises(StorageConfigurationError) as refused:
            attempt()
        message = str(refused.value)
        assert url in message and s3_env.endpoint_url in message, message
        assert "create the bucket" in message and "EXPORT_STORAGE_URL" in message
        assert isinstance(refused.value, PermanentExportError)


def test_a_missing_bucket_fails_the_write_when_it_ends(s3_env):
    storage = storage_from_url(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}")

    with pytest.raises(StorageConfigurationError, match="bucket does not exist"):
        with storage.open_write("a.csv") as target:
            target.write(b"small: one PutObject when the block ends")


def test_move_sets_type_disposition_with_a_non_ascii_name_and_metadata(s3_env, bucket, storage):
    with storage.open_write("_staging/run/report.pdf") as target:
        target.write(b"%PDF-1.7")
    attributes = FileAttributes("application/pdf", "Bericht März.pdf", {"run-id": "run-1", "rows": "3"})

    storage.move("_staging/run/report.pdf", "alice/run/report.pdf", attributes)

    head = s3_env.client.head_object(Bucket=bucket, Key="root/alice/run/report.pdf")
    assert head["ContentType"] == "application/pdf"
    assert head["ContentDisposition"] == (
        "attachment; filename=\"Bericht M_rz.pdf\"; filename*=UTF-8''Bericht%20M%C3%A4rz.pdf"
    )
    assert head["Metadata"] == {"run-id": "run-1", "rows": "3"} == storage.attributes("alice/run/report.pdf")
    assert s3_env.stored(bucket) == ["root/alice/run/report.pdf"]


def test_server_side_encryption_applies_to_every_write_and_copy(s3_env, bucket, monkeypatch):
    monkeypatch.setenv("EXPORT_S3_SSE", "AES256")
    storage = storage_from_url(f"s3://{bucket}")
    with storage.open_write("small.bin") as target:
        target.write(b"one PutObject")
    with storage.open_write("large.bin") as target:
        target.write(b"\x00" * (10 * MIB))  # two parts
    storage.move("large.bin", "moved.bin")

    for key in ("small.bin", "moved.bin"):
        assert s3_env.client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256", key


def test_settings_are_read_when_the_storage_is_built_and_clients_are_shared(s3_env, bucket, monkeypatch):
    first, second = storage_from_url(f"s3://{bucket}/a"), storage_from_url(f"s3://{bucket}/b")
    monkeypatch.setenv("EXPORT_S3_SSE", "aws:kms")
    monkeypatch.setenv("EXPORT_S3_SSE_KMS_KEY_ID", "alias/exports")
    third = storage_from_url(f"s3://{bucket}")

    assert first.client is second.client is third.client, "one client per endpoint and region in a process"
    assert first.settings.sse is None
    assert third.settings.encryption_args() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/exports"}


@pytest.mark.parametrize(
    ("url", "problem"),
    [("s3://key:secret@bucket/x", "must not carry credentials"), ("s3:///prefix", "s3://bucket/prefix"),
     ("s3://bucket/x?region=eu", "s3://bucket/prefix")],
)  # fmt: skip
def test_bad_urls_and_settings_are_refused(s3_env, monkeypatch, url, problem):
    with pytest.raises(StorageConfigurationError, match=problem) as refused:
        storage_from_url(url)
    assert "secret" not in str(refused.value)

    monkeypatch.setenv("EXPORT_S3_SSE", "aes256")
    with pytest.raises(StorageConfigurationError, match="AES256 or aws:kms"):
        storage_from_url("s3://bucket")


def test_an_unreachable_endpoint_is_transient(s3_env, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("EXPORT_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("EXPORT_S3_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("EXPORT_S3_CONNECT_TIMEOUT", "0.5")
    storage = storage_from_url("s3://bucket/exports")
    started = time.monotonic()

    with pytest.raises(TransientDeliveryError, match="unreachable"):
        storage.exists("a.csv")
    with pytest.raises(TransientDeliveryError, match=endpoint):
        with storage.open_write("big.csv") as target:
            for _ in range(20):  # past one part: the writer must not block on a dead upload
                target.write(b"x" * MIB)
    assert time.monotonic() - started < 30


class _Answer(BaseHTTPRequestHandler):
    """Answer every request with one S3 error."""

    status, code = 503, "SlowDown"

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"<Error><Code>{self.code}</Code><Message>stub</Message></Error>".encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(503, "SlowDown", TransientDeliveryError), (500, "InternalError", TransientDeliveryError),
     (403, "AccessDenied", StorageConfigurationError), (403, "InvalidAccessKeyId", StorageConfigurationError)],
)  # fmt: skip
def test_answers_after_retries_become_typed_errors(s3_env, monkeypatch, status, code, expected):
    handler = type("Handler", (_Answer,), {"status": status, "code": code})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("EXPORT_S3_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("EXPORT_S3_MAX_ATTEMPTS", "2")
        storage = storage_from_url("s3://bucket/exports")

        with pytest.raises(expected, match=code):
            list(storage.list("run"))
        with pytest.raises(expected, match=code):
            with storage.open_write("a.csv") as target:
                target.write(b"x")
    finally:
        server.shutdown()
        server.server_close()

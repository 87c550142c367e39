"""S3 failing under real uploads: 500 and 503 SlowDown answered by a proxy in front of the moto server.

Multipart at the storage level (a file of three 5 MiB parts, the first part uploads refused), and a
whole export whose rendered-file PUT and publishing copy each fail once with botocore's own retries
off, so that the ops' retry policy is what saves the run. Files are compared by row count and SHA-256
with an undisturbed run.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from export_pipelines.errors import TransientDeliveryError
from export_pipelines.failures import is_transient
from export_pipelines.storage import storage_from_url
from export_pipelines_tests.faults.conftest import attempts, sha256_of

MIB = 1 << 20


@pytest.fixture
def bucket(s3_env):
    name = s3_env.create_bucket("faults")
    yield name
    s3_env.empty(name)


def write_and_read_back(url: str, data: bytes) -> str:
    storage = storage_from_url(url)
    with storage.open_write("big/file.bin") as target:
        for start in range(0, len(data), MIB):
            target.write(data[start : start + MIB])
    digest = hashlib.sha256()
    with storage.open_read("big/file.bin") as source:
        while block := source.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def test_upload_parts_refused_with_500_and_503_are_retried_into_the_same_bytes(bucket, s3_proxy, s3_env, monkeypatch):
    monkeypatch.setenv("EXPORT_S3_PART_SIZE_MB", "5")
    data = os.urandom(12 * MIB)  # three parts
    s3_proxy.fail(lambda request: request.is_upload_part, times=1, status=500)
    s3_proxy.fail(lambda request: request.is_upload_part, times=1, status=503)

    read_back = write_and_read_back(f"s3://{bucket}/x", data)

    assert read_back == hashlib.sha256(data).hexdigest()
    assert len(s3_proxy.failed) == 2 and all(request.is_upload_part for request in s3_proxy.failed)
    assert s3_env.stored(bucket) == ["x/big/file.bin"]  # no unfinished upload left behind


def test_upload_parts_refused_past_the_retries_fail_typed_and_transient_leaving_nothing(
    bucket, s3_proxy, s3_env, monkeypatch
):
    monkeypatch.setenv("EXPORT_S3_PART_SIZE_MB", "5")
    monkeypatch.setenv("EXPORT_S3_MAX_ATTEMPTS", "1")
    s3_proxy.fail(lambda request: request.is_upload_part, times=100, status=503)

    with pytest.raises(TransientDeliveryError, match="SlowDown|503") as raised:
        write_and_read_back(f"s3://{bucket}/x", os.urandom(11 * MIB))

    assert is_transient(raised.value)
    assert s3_env.stored(bucket) == []


@pytest.fixture
def source_url(sqlite_source):
    return sqlite_source


def test_an_export_whose_file_put_and_publishing_copy_fail_once_succeeds_with_the_same_file(
    run, bucket, s3_proxy, monkeypatch
):
    monkeypatch.setenv("EXPORT_STORAGE_URL", f"s3://{bucket}/x")
    request = {"user": "analyst", "dataset": "orders", "format": "csv", "chunk_size": 300}
    undisturbed, undisturbed_file = run(**request)
    assert undisturbed.status == "SUCCESS", undisturbed.error
    # The fewest botocore attempts there are: 2 (S3Settings passes max_attempts to botocore's ``max_attempts``,
    # which counts retries, not attempts). Two failures in a row leave it to the ops' retry policy.
    monkeypatch.setenv("EXPORT_S3_MAX_ATTEMPTS", "1")
    # The rendered file is the one staged .csv outside ready/ (where the encoded chunks are).
    rendered_put = s3_proxy.fail(
        lambda r: r.method == "PUT" and not r.is_copy and "/data/" in r.path and "/ready/" not in r.path,
        times=2, status=503,
    )  # fmt: skip
    publishing_copy = s3_proxy.fail(lambda r: r.is_copy, times=2, status=500)  # only publishing copies

    record, location = run(**request)

    assert record.status == "SUCCESS", record.error
    assert rendered_put.failed == 2 and publishing_copy.failed == 2
    assert attempts(record.run_id, "render_file") == 2 and attempts(record.run_id, "upload_file") == 2
    assert (record.rows, record.sha256) == (undisturbed.rows, undisturbed.sha256)
    assert sha256_of(location) == sha256_of(undisturbed_file)

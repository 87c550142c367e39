"""EncryptedStorage over every backend: plaintext in and out, only ciphertext stored, bound to its key."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from export_pipelines.security.keyset import Keyset
from export_pipelines.security.streaming_aead import DecryptionError
from export_pipelines.storage import FileAttributes, storage_from_url
from export_pipelines.storage.encrypted import KEY_ID_ATTRIBUTE, EncryptedStorage

# Recognisable in any stored byte, and longer than one 1 MiB segment.
MARKER = b"PLAINTEXT-MARKER-4f1c"
PAYLOAD = (MARKER + hashlib.sha256(b"x").digest()) * 60_000


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    """(backend, every stored byte as one blob) for a folder and for a bucket on the moto server."""
    if request.param == "local":
        folder = tmp_path / "store"
        store = storage_from_url(str(folder))
        return store, lambda: b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())
    server = request.getfixturevalue("s3_env")
    bucket = server.create_bucket("encrypted")
    store = storage_from_url(f"s3://{bucket}/exports-root")

    def everything() -> bytes:
        objects = server.client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return b"".join(server.client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects)

    return store, everything


@pytest.fixture
def keyset():
    return Keyset.generate()


def write(storage, key, data, **options):
    with storage.open_write(key, **options) as target:
        for start in range(0, len(data), 300_001):
            target.write(data[start : start + 300_001])
    return target.result


def test_round_trip_reports_plaintext_size_checksum_and_key_and_stores_only_ciphertext(backend, keyset):
    inner, stored_bytes = backend
    storage = EncryptedStorage(inner, keyset)

    result = write(storage, "exports/run-1/orders.csv", PAYLOAD)

    with storage.open_read("exports/run-1/orders.csv") as source:
        assert source.read() == PAYLOAD
    assert (result.bytes, result.sha256) == (len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    assert result.key_id == keyset.primary_key_id
    assert storage.size("exports/run-1/orders.csv") == len(PAYLOAD)
    assert inner.size("exports/run-1/orders.csv") == keyset.primary.ciphertext_size(len(PAYLOAD))
    assert MARKER not in stored_bytes()


def test_a_range_decrypts_from_the_segments_that_cover_it(backend, keyset):
    storage = EncryptedStorage(backend[0], keyset)
    write(storage, "exports/run/big.bin", PAYLOAD)

    for start, end in [(0, 10), (1_048_500, 1_048_700), (len(PAYLOAD) - 5, len(PAYLOAD)), (5, 5)]:
        assert b"".join(storage.open_range("exports/run/big.bin", start, end)) == PAYLOAD[start:end]
    assert storage.read_range("exports/run/big.bin", 2_000_000, 50) == PAYLOAD[2_000_000:2_000_050]


def test_a_ciphertext_copied_to_another_key_does_not_decrypt(backend, keyset):
    inner, _ = backend
    storage = EncryptedStorage(inner, keyset)
    write(storage, "exports/run-a/file.csv", PAYLOAD[:5000])

    inner.move("exports/run-a/file.csv", "exports/run-b/file.csv")  # an attacker with bucket access

    with pytest.raises(DecryptionError):
        with storage.open_read("exports/run-b/file.csv") as source:
            source.read()


def test_a_staged_render_bound_to_its_final_key_publishes_by_moving_ciphertext(backend, keyset):
    inner, _ = backend
    storage = EncryptedStorage(inner, keyset)
    final = "exports/run-1/orders.csv"
    write(storage, "_staging/run-1/data/orders.csv", PAYLOAD[:70_000], bound_to=final)
    staged_ciphertext = inner.read_range("_staging/run-1/data/orders.csv", 0, 1 << 30)

    storage.move("_staging/run-1/data/orders.csv", final, FileAttributes(metadata={KEY_ID_ATTRIBUTE: "1"}))

    assert inner.read_range(final, 0, 1 << 30) == staged_ciphertext, "published without re-encryption"
    with storage.open_read(final) as source:
        assert source.read() == PAYLOAD[:70_000]


def test_after_rotation_new_files_use_the_new_key_and_old_files_stay_readable(backend, keyset):
    inner, _ = backend
    write(EncryptedStorage(inner, keyset), "exports/old/file.bin", PAYLOAD[:10_000])
    rotated = keyset.rotated()
    storage = EncryptedStorage(inner, rotated)

    new = write(storage, "exports/new/file.bin", PAYLOAD[:20_000])

    assert new.key_id == rotated.primary_key_id != keyset.primary_key_id
    assert storage.key_for("exports/old/file.bin").key_id == keyset.primary_key_id
    assert storage.key_for("exports/new/file.bin").key_id == rotated.primary_key_id
    with storage.open_read("exports/old/file.bin") as source:
        assert source.read() == PAYLOAD[:10_000]
    without_old = EncryptedStorage(inner, rotated.without(keyset.primary_key_id))
    with pytest.raises(DecryptionError):
        with without_old.open_read("exports/old/file.bin") as source:
            source.read()


def test_another_keyset_reads_nothing(backend, keyset):
    inner, _ = backend
    write(EncryptedStorage(inner, keyset), "exports/run/file.bin", PAYLOAD[:100])

    with pytest.raises(DecryptionError):
        EncryptedStorage(inner, Keyset.generate()).read_range("exports/run/file.bin", 0, 10)


def test_a_failed_write_leaves_nothing(backend, keyset):
    inner, stored_bytes = backend
    storage = EncryptedStorage(inner, keyset)

    with pytest.raises(RuntimeError):
        with storage.open_write(f"exports/{uuid.uuid4().hex}/file.bin") as target:
            target.write(PAYLOAD)
            raise RuntimeError("renderer broke")

    assert list(inner.list("")) == [] and stored_bytes() == b""


def test_a_known_key_id_spares_reading_the_first_segment(tmp_path, keyset):
    inner = storage_from_url(str(tmp_path / "store"))
    storage = EncryptedStorage(inner, keyset)
    write(storage, "files/run/big.bin", PAYLOAD)
    path = tmp_path / "store" / "files" / "run" / "big.bin"
    damaged = bytearray(path.read_bytes())
    damaged[keyset.primary.header_size() + 100] ^= 1  # inside the first segment, not its header
    path.write_bytes(bytes(damaged))
    far = (2_500_000, 2_500_100)

    assert (
        b"".join(storage.open_range("files/run/big.bin", *far, key_id=keyset.primary_key_id))
        == PAYLOAD[2_500_000:2_500_100]
    )
    with pytest.raises(DecryptionError):
        b"".join(storage.open_range("files/run/big.bin", *far))  # identifying the key reads the damaged segment


def test_reads_return_what_was_asked_for_across_segments(backend, keyset):
    storage = EncryptedStorage(backend[0], keyset)
    write(storage, "_staging/run/chunk.bin", PAYLOAD)

    with storage.open_read("_staging/run/chunk.bin") as source:
        assert source.read(10) == PAYLOAD[:10]
        assert source.read(2_500_000) == PAYLOAD[10:2_500_010], "one read spans three segments"
        assert source.read() == PAYLOAD[2_500_010:]
        assert source.read(5) == b""


def test_a_staged_arrow_chunk_larger_than_a_segment_reads_back(backend, keyset):
    import pyarrow as pa

    from export_pipelines.run.staging import read_chunk, write_chunk

    storage = EncryptedStorage(backend[0], keyset)
    table = pa.table({"id": list(range(300_000)), "text": [f"row {i}" for i in range(300_000)]})

    write_chunk(storage, "_staging/run/data/raw/chunk-000000.arrow", table)

    assert read_chunk(storage, "_staging/run/data/raw/chunk-000000.arrow").equals(table)

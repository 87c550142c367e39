"""Contract of every storage backend: round trips, checksums, atomic writes, key safety, deletion.

Each backend is reached the way the resources reach it, through ``storage_from_url``. Backends
need a place to write (a folder, a bucket), so each scheme has a factory below; a backend module
without one fails ``test_every_backend_is_covered`` instead of going untested. A factory also says
how to see everything stored behind the backend's back (files, temporary files, unfinished uploads),
so the atomicity tests look at the place itself, not at what the backend chooses to list.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
from collections.abc import Callable
from pathlib import Path

import pytest

import export_pipelines.storage as storage_package
from export_pipelines.storage import Storage, storage_from_url
from export_pipelines.storage.base import _BACKENDS, FileAttributes, storage_schemes

# The S3 factory needs the moto server fixtures (conftest may register them too: registering twice is harmless).

# stored(anywhere=False): every file or unfinished upload under the storage root, as "/"-joined keys;
# anywhere=True: everywhere the backend could have written (the root's parent folder, the whole bucket).
Stored = Callable[..., list[str]]
BAD_KEYS = [
    "", "../escape", "a/../b", "a/./b", "..", "/absolute", "a//b", "a/", "tab\tkey", "a\\b",
    " leading", "trailing /x", "new\nline", "nul\x00", "x" * 1001,
]  # fmt: skip
# More than one 1 MiB write buffer, with a length that is not a multiple of anything.
PAYLOAD = hashlib.sha256(b"seed").digest() * 70_000 + b"tail\x00\xff"


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def local_backend(url_of: Callable[[Path], str]):
    def make(request, tmp_path) -> tuple[Storage, Stored]:
        folder = tmp_path / "store"
        folder.mkdir()
        return storage_from_url(url_of(folder)), lambda anywhere=False: [
            Path(name).as_posix() for name in files_in(folder.parent if anywhere else folder)
        ]

    return make


def s3_backend(request, tmp_path) -> tuple[Storage, Stored]:
    server = request.getfixturevalue("s3_env")
    bucket = server.create_bucket()
    request.addfinalizer(lambda: server.empty(bucket))
    return storage_from_url(f"s3://{bucket}/store"), lambda anywhere=False: server.stored(
        bucket, "" if anywhere else "store/"
    )


# Backend factories by name, each given a fresh empty place (folder, bucket). Add one for every new backend.
BACKENDS = {
    "plain_path": local_backend(str),
    "file_url": local_backend(Path.as_uri),
    "s3": s3_backend,
}
SCHEMES = {"plain_path": "file", "file_url": "file", "s3": "s3"}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path) -> tuple[Storage, Stored]:
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def storage(backend) -> Storage:
    return backend[0]


def write(storage: Storage, key: str, data: bytes, pieces: int = 3):
    step = max(1, len(data) // pieces)
    with storage.open_write(key) as target:
        for start in range(0, len(data), step):
            target.write(data[start : start + step])
    return target.result


def read(storage: Storage, key: str) -> bytes:
    with storage.open_read(key) as source:
        return source.read()


def test_every_backend_is_covered():
    for module in pkgutil.iter_modules(storage_package.__path__):
        importlib.import_module(f"{storage_package.__name__}.{module.name}")
    assert set(_BACKENDS) <= set(SCHEMES.values()), "add a factory to BACKENDS for each new backend"
    assert set(_BACKENDS) <= set(storage_schemes()), "declare each backend in pyproject's entry points"


def test_keys_with_spaces_and_any_script_round_trip(storage):
    key = "Zoë Åström/run 1/Bestellungen - März (1).csv"
    write(storage, key, b"unicode")

    assert read(storage, key) == b"unicode"
    assert [f.key for f in storage.list("Zoë Åström")] == [key]


def test_list_shows_complete_files_under_a_prefix_in_key_order(storage):
    for key in ("b/2.csv", "b/1.csv", "b/sub/3.csv", "bb/4.csv"):
        write(storage, key, key.encode())
    with storage.open_write("b/unfinished.csv") as target:
        target.write(b"half")
        listed_meanwhile = [f.key for f in storage.list("b")]

    assert listed_meanwhile == ["b/1.csv", "b/2.csv", "b/sub/3.csv"], "a prefix is a folder; no unfinished file"
    listed = list(storage.list(""))
    assert [f.key for f in listed] == ["b/1.csv", "b/2.csv", "b/sub/3.csv", "b/unfinished.csv", "bb/4.csv"]
    assert [f.bytes for f in listed][:2] == [7, 7] and all(f.modified.tzinfo for f in listed)
    assert list(storage.list("missing")) == []


def test_size_and_ranges(storage):
    write(storage, "r/file.bin", PAYLOAD)

    assert storage.size("r/file.bin") == len(PAYLOAD)
    assert storage.read_range("r/file.bin", 0, 10) == PAYLOAD[:10]
    assert storage.read_range("r/file.bin", 1_048_570, 20) == PAYLOAD[1_048_570:1_048_590]
    assert storage.read_range("r/file.bin", len(PAYLOAD) - 3, 100) == PAYLOAD[-3:]
    with pytest.raises(FileNotFoundError):
        storage.size("r/missing.bin")


def test_move_with_attributes_publishes_the_bytes_unchanged(storage):
    write(storage, "_staging/run/report.pdf", PAYLOAD)
    attributes = FileAttributes("application/pdf", "Bericht März.pdf", {"run-id": "run", "rows": "3"})

    storage.move("_staging/run/report.pdf", "u/run/report.pdf", attributes)

    assert read(storage, "u/run/report.pdf") == PAYLOAD and not storage.exists("_staging/run/report.pdf")
    assert storage.attributes("u/run/report.pdf") in ({}, {"run-id": "run", "rows": "3"})


def test_content_disposition_names_the_file_for_every_client():
    assert FileAttributes(file_name="orders.csv").content_disposition() == 'attachment; filename="orders.csv"'
    assert FileAttributes(file_name='Bericht "März".pdf').content_disposition() == (
        "attachment; filename=\"Bericht _M_rz_.pdf\"; filename*=UTF-8''Bericht%20%22M%C3%A4rz%22.pdf"
    )
    assert FileAttributes().content_disposition() is None


def test_write_read_round_trip_with_hash_and_size(storage):
    stored = write(storage, "exports/run-1/orders.csv", PAYLOAD)

    assert read(storage, "exports/run-1/orders.csv") == PAYLOAD
    assert stored.key == "exports/run-1/orders.csv"
    assert stored.bytes == len(PAYLOAD)
    assert stored.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert storage.exists("exports/run-1/orders.csv") and not storage.exists("exports/run-1/other.csv")


def test_a_write_without_checksum_still_counts_and_stores_every_byte(storage):
    with storage.open_write("_staging/run-1/chunk-0.arrow", checksum=False) as target:
        target.write(PAYLOAD)

    assert read(storage, "_staging/run-1/chunk-0.arrow") == PAYLOAD
    assert (target.result.bytes, target.result.sha256) == (len(PAYLOAD), "")


def test_empty_file_round_trips(storage):
    stored = write(storage, "empty.jsonl", b"")

    assert read(storage, "empty.jsonl") == b"" and storage.exists("empty.jsonl")
    assert (stored.bytes, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())


def test_overwrite_replaces_the_content(storage):
    write(storage, "file.bin", b"first version, longer than the second")
    stored = write(storage, "file.bin", b"second")

    assert read(storage, "file.bin") == b"second" and stored.bytes == 6


def test_nothing_appears_before_the_write_completes(storage):
    with storage.open_write("pending/file.bin") as target:
        target.write(PAYLOAD)
        assert not storage.exists("pending/file.bin")
    assert storage.exists("pending/file.bin")


def test_failed_write_leaves_nothing_behind(backend):
    storage, stored = backend

    with pytest.raises(RuntimeError, match="renderer broke"):
        with storage.open_write("run/file.csv") as target:
            target.write(PAYLOAD)
            raise RuntimeError("renderer broke")

    assert not storage.exists("run/file.csv")
    assert stored() == [], "no partial or temporary file, no unfinished upload may remain"


def test_failed_overwrite_keeps_the_previous_file(backend):
    storage, stored = backend
    write(storage, "run/file.csv", b"complete")

    with pytest.raises(RuntimeError):
        with storage.open_write("run/file.csv") as target:
            target.write(b"half")
            raise RuntimeError("interrupted")

    assert read(storage, "run/file.csv") == b"complete"
    assert stored() == ["run/file.csv"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_refused(backend, key):
    storage, stored = backend

    with pytest.raises(ValueError, match="not allowed"):
        with storage.open_write(key) as target:
            target.write(b"x")
    with pytest.raises(ValueError, match="not allowed"):
        storage.open_read(key)
    with pytest.raises(ValueError, match="not allowed"):
        storage.exists(key)

    assert stored(anywhere=True) == [], "nothing written anywhere, inside or outside the root"


def test_delete_prefix_counts_and_removes(storage):
    for key in ("_staging/run1/raw/chunk-0.arrow", "_staging/run1/raw/chunk-1.arrow", "_staging/run1/out.csv"):
        write(storage, key, b"staged")
    write(storage, "_staging/run10/out.csv", b"other run")

    assert storage.delete_prefix("_staging/run1") == 3
    assert not storage.exists("_staging/run1/out.csv") and not storage.exists("_staging/run1/raw/chunk-0.arrow")
    assert read(storage, "_staging/run10/out.csv") == b"other run", "a prefix is a folder, not a string prefix"
    assert storage.delete_prefix("_staging/run1") == 0
    assert storage.delete_prefix("_staging/run10/") == 1
    assert storage.delete_prefix("never/written") == 0


def test_delete_prefix_of_one_file(storage):
    write(storage, "exports/a.csv", b"a")
    write(storage, "exports/b.csv", b"b")

    assert storage.delete_prefix("exports/a.csv") == 1
    assert not storage.exists("exports/a.csv") and storage.exists("exports/b.csv")


def test_copy_streams_and_hashes(storage):
    write(storage, "_staging/run/orders.csv.gz", PAYLOAD)

    copied = storage.copy("_staging/run/orders.csv.gz", "exports/2024/orders.csv.gz")

    assert read(storage, "exports/2024/orders.csv.gz") == PAYLOAD
    assert copied.key == "exports/2024/orders.csv.gz"
    assert (copied.bytes, copied.sha256) == (len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    assert storage.exists("_staging/run/orders.csv.gz"), "copy keeps the source"


def test_move_publishes_the_staged_file_and_removes_the_source(storage):
    staged = write(storage, "_staging/run/orders.csv", PAYLOAD)

    storage.move("_staging/run/orders.csv", "alice/run/orders.csv")

    assert read(storage, "alice/run/orders.csv") == PAYLOAD
    assert hashlib.sha256(PAYLOAD).hexdigest() == staged.sha256
    assert not storage.exists("_staging/run/orders.csv")


def test_location_names_the_stored_file(storage):
    write(storage, "exports/orders.csv", b"x")

    assert storage.location("exports/orders.csv").endswith("orders.csv")


def test_unknown_scheme_names_the_supported_ones():
    with pytest.raises(ValueError) as refused:
        storage_from_url("ftp://files.example.com/exports")

    message = str(refused.value)
    assert "'ftp'" in message
    for scheme in set(SCHEMES.values()):
        assert scheme in message.split("supported:")[1]


def test_local_files_and_folders_are_private_whatever_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        storage = storage_from_url(str(tmp_path / "store"))
        write(storage, "alice/run/orders.csv", b"private")
        storage.move("alice/run/orders.csv", "alice/run2/orders.csv")
    finally:
        os.umask(previous)

    for path in (tmp_path / "store", tmp_path / "store" / "alice", tmp_path / "store" / "alice" / "run2"):
        assert path.stat().st_mode & 0o777 == 0o700, path
    assert (tmp_path / "store" / "alice" / "run2" / "orders.csv").stat().st_mode & 0o777 == 0o600


def test_path_and_file_url_reach_the_same_folder(tmp_path):
    folder = tmp_path / "with space é"
    folder.mkdir()
    write(storage_from_url(str(folder)), "a/b.txt", b"shared")

    assert read(storage_from_url(folder.as_uri()), "a/b.txt") == b"shared"
    assert files_in(folder) == [os.path.join("a", "b.txt")]


@pytest.mark.parametrize("url", ["file://var/exports", "file://./var/exports"])
def test_file_url_with_a_relative_path_is_refused(url):
    # urlparse reads 'var' or '.' as a host: the folder would silently become /exports or /var/exports.
    with pytest.raises(ValueError, match="file:///"):
        storage_from_url(url)

"""Every byte an export stores is ciphertext: final files, staged chunks and step outputs, on a folder and on S3.

Each test first finds what it looks at in the storage (the published file under its key, the staged
chunks, the step output), and the value it looks for (a customer's name, a filter value) in their
plaintext; then it must not find that value, nor any piece of the plaintext, in what the storage holds.
The published file also decrypts with Tink's own streaming AEAD, bound to its storage key.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import tink
from dagster import DagsterInstance, build_input_context, build_op_context, build_output_context
from tink import json_proto_keyset_format, secret_key_access, streaming_aead

from export_pipelines.demo.seed import customers
from export_pipelines.request.model import ExportRequest
from export_pipelines.run.ops.collect import collect_chunks
from export_pipelines.run.ops.validate import validate_request
from export_pipelines.run.resources import (
    CatalogResource,
    ExportLimitsResource,
    ExportStorageResource,
    SourceDatabaseResource,
)
from export_pipelines.run.step_outputs import StepOutputIOManager, output_key
from export_pipelines_tests.exported import run_decrypted

# Tink's associated data for a stored object, as the storage binds it: a fixed prefix and the object's key.
AD_PREFIX = b"export_pipelines/v1:"


@dataclass
class Store:
    """What a storage backend holds, read around the export code: storage key -> raw bytes."""

    objects: Callable[[], dict[str, bytes]]
    data_dir: Path

    def everything(self) -> bytes:
        return b"".join(self.objects().values())


@pytest.fixture(params=["local", "s3"])
def store(request, sqlite_source, dagster_home, tmp_path, monkeypatch) -> Store:
    """Point exports at a folder or a bucket; give what is stored there."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", sqlite_source)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SMTP_HOST", raising=False)
    monkeypatch.delenv("EXPORT_ENCRYPTION_KEYSET", raising=False)
    if request.param == "local":
        folder = tmp_path / "store"
        monkeypatch.setenv("EXPORT_STORAGE_URL", str(folder))
        return Store(lambda: {p.relative_to(folder).as_posix(): p.read_bytes()
                              for p in sorted(folder.rglob("*")) if p.is_file()}, tmp_path / "var")  # fmt: skip
    server = request.getfixturevalue("s3_env")
    bucket = server.create_bucket("at-rest")
    monkeypatch.setenv("EXPORT_STORAGE_URL", f"s3://{bucket}/tenant-exports")

    def objects() -> dict[str, bytes]:
        listed = server.client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"].removeprefix("tenant-exports/"): server.client.get_object(Bucket=bucket, Key=o["Key"])[
            "Body"].read() for o in listed}  # fmt: skip

    return Store(objects, tmp_path / "var")


@pytest.fixture
def known_name(sqlite_source) -> str:
    """A customer name that the exports below contain."""
    with sa.create_engine(sqlite_source).connect() as connection:
        return connection.execute(sa.select(customers.c.name).order_by(customers.c.customer_id)).scalars().first()


def pieces_found(plaintext: bytes, stored: bytes, width: int = 32) -> int:
    """How many of the plaintext's ``width``-byte pieces (side by side) occur in ``stored``: all of them for a
    plaintext copy, none for ciphertext. Unlike one value, this holds for compressed formats too."""
    pieces = [plaintext[at : at + width] for at in range(0, len(plaintext) - width + 1, width)]
    assert pieces, "the plaintext is too short to look for"
    return sum(piece in stored for piece in pieces)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_published_file_is_ciphertext_and_decrypts_to_the_export(store, known_name, fmt, tmp_path):
    request = ExportRequest(user="admin", dataset="customers", format=fmt, chunk_size=100)

    record, decrypted = run_decrypted(request, DagsterInstance.get(), tmp_path)

    assert record.status == "SUCCESS", record.error
    assert record.file_key.startswith("files/") and record.key_id
    plaintext = Path(decrypted).read_bytes()
    if fmt == "csv":
        assert known_name.encode() in plaintext
    else:  # compressed column pages: the name is not in the file's bytes, but it is in the file
        assert known_name in pq.read_table(decrypted).column("name").to_pylist()
        assert plaintext.startswith(b"PAR1") and plaintext.endswith(b"PAR1")
    objects = store.objects()
    assert record.file_key in objects and len(objects[record.file_key]) > len(plaintext)  # stored, with tags
    stored = store.everything()
    assert known_name.encode() not in stored and b"PAR1" not in stored
    assert pieces_found(plaintext, stored) == 0
    assert pieces_found(plaintext, plaintext) > 0  # the measure finds a plaintext copy


def test_a_published_file_decrypts_with_tinks_streaming_aead_bound_to_its_key(store, tmp_path):
    """The format is Tink's: the deployment's keyset file and Tink's own library open a stored file, with
    the storage key as associated data; under another key it does not open."""
    record, decrypted = run_decrypted(ExportRequest(user="admin", dataset="customers", format="csv"),
                                      DagsterInstance.get(), tmp_path)  # fmt: skip
    assert record.status == "SUCCESS", record.error
    streaming_aead.register()
    keyset = (store.data_dir / "keys" / "keyset.json").read_text()
    primitive = json_proto_keyset_format.parse(keyset, secret_key_access.TOKEN).primitive(streaming_aead.StreamingAead)
    ciphertext = store.objects()[record.file_key]

    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), AD_PREFIX + record.file_key.encode()) as plain:
        assert plain.read() == Path(decrypted).read_bytes()
    with pytest.raises(tink.TinkError):
        with primitive.new_decrypting_stream(io.BytesIO(ciphertext), AD_PREFIX + b"files/elsewhere.csv") as plain:
            plain.read()


def test_staged_chunks_are_ciphertext(store, known_name):
    resources = {
        "source": SourceDatabaseResource(),
        "catalog": CatalogResource(),
        "storage": ExportStorageResource(),
        "limits": ExportLimitsResource(),
    }
    staged = []
    for fmt in ("csv", "xlsx"):  # encoded chunks and Arrow chunks
        context = build_op_context(resources=resources)
        plan = validate_request(context, config=ExportRequest(user="admin", dataset="customers", format=fmt))
        staged += [output.value for output in collect_chunks(build_op_context(resources=resources), plan)]

    assert staged and all(chunk.key.startswith("_staging/") for chunk in staged)
    objects = store.objects()
    assert {chunk.key for chunk in staged} <= set(objects)  # the chunks are in the storage...
    storage = ExportStorageResource().get()
    with storage.open_read(staged[0].key) as first:
        assert known_name.encode() in first.read()  # ...one holds the name in plaintext...
    assert known_name.encode() not in store.everything()  # ...and none shows it there
    for chunk in staged:
        with storage.open_read(chunk.key) as source:
            assert pieces_found(source.read(), objects[chunk.key]) == 0


def test_step_outputs_are_ciphertext_and_load_back(store):
    manager = StepOutputIOManager(storage=ExportStorageResource())
    value = {"filters": ["customer_name eq 'Ünïque Filter Välue'"], "rows": 3}
    output = build_output_context(run_id="run-1", step_key="transform_chunk[chunk_000002]", name="result")

    manager.handle_output(output, value)

    key = output_key("run-1", "transform_chunk[chunk_000002]", "result")
    assert list(store.objects()) == [key]  # the output, and nothing else, is in the storage
    assert "Ünïque Filter Välue".encode() not in store.everything()
    assert manager.load_input(build_input_context(upstream_output=output)) == value

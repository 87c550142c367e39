"""Compression: gzip and zip read back with the standard library, auto on both sides of its threshold,
and every choice through the real export_job (SQLite source, local storage, a Dagster instance per test)."""

from __future__ import annotations

import gzip
import hashlib
import io
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from export_pipelines.datasets.catalog import load_catalog
from export_pipelines.demo.seed import seed_demo
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import RenderContext, renderer_class
from export_pipelines.formats.compression import (
    AUTO_THRESHOLD_ENV,
    DEFAULT_AUTO_THRESHOLD,
    ZIP_DATE_TIME,
    check_compression,
    choose_compression,
    compressed,
    estimated_bytes,
)
from export_pipelines.request.model import COMPRESSIONS, ExportRequest
from export_pipelines.storage import storage_from_url
from export_pipelines_tests.exported import run_decrypted
from export_pipelines_tests.formats.samples import COLUMNS, TIMEZONE, chunks, render

SEED_ROWS = 1_500
ORDERS = tuple(load_catalog().dataset("orders").columns.values())


def render_packed(folder: Path, format_name: str, compression: str, entry_name: str = "orders.csv") -> bytes:
    """Render the sample rows through real (non-seekable) storage, as render_file does, naming the zip entry."""
    storage = storage_from_url(str(folder))
    key = f"packed/{uuid.uuid4().hex}"
    with storage.open_write(key) as output:
        with compressed(output.stream, compression, entry_name) as stream:
            renderer = renderer_class(format_name)(stream, RenderContext(COLUMNS, {}, "Orders", TIMEZONE))
            for table in chunks(2):
                renderer.write(table)
            renderer.close()
    with storage.open_read(key) as stored:
        data = stored.read()
    assert output.result.bytes == len(data) and output.result.sha256 == hashlib.sha256(data).hexdigest()
    return data


@pytest.mark.parametrize("format_name", ["csv", "jsonl", "parquet"])
def test_gzip_round_trips(tmp_path, format_name):
    packed = render_packed(tmp_path, format_name, "gzip")

    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == render(tmp_path, format_name, chunks(2))
    assert render_packed(tmp_path, format_name, "gzip") == packed, "no timestamp in the gzip header"


@pytest.mark.parametrize("format_name", ["csv", "json", "xlsx"])
def test_zip_holds_one_entry_named_like_the_file(tmp_path, format_name):
    packed = render_packed(tmp_path, format_name, "zip", entry_name=f"orders-20240101T000000Z.{format_name}")

    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        (entry,) = archive.infolist()
        assert archive.testzip() is None, "CRC and sizes check out"
        content = archive.read(entry)
    assert entry.filename == f"orders-20240101T000000Z.{format_name}"
    assert entry.compress_type == zipfile.ZIP_DEFLATED and entry.date_time == ZIP_DATE_TIME
    assert entry.file_size == len(content) and entry.compress_size < entry.file_size
    assert content == render(tmp_path, format_name, chunks(2))


def test_zip_is_deterministic_and_streamed_with_a_data_descriptor(tmp_path):
    first = render_packed(tmp_path, "csv", "zip")
    second = render_packed(tmp_path, "csv", "zip")

    assert first == second, "fixed date and attributes: the same rows give the same bytes"
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        (entry,) = archive.infolist()
    assert entry.flag_bits & 0x08, "sizes follow the data: the storage stream cannot seek back"
    assert entry.external_attr >> 16 == 0o644


class CountingSink(io.RawIOBase):
    """A non-seekable sink that records how many bytes arrived, to see output leave before close()."""

    def __init__(self):
        self.received = 0

    def writable(self):
        return True

    def write(self, data):
        self.received += len(data)
        return len(data)


@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_compressed_output_streams(compression):
    sink = CountingSink()
    block = b"".join(hashlib.sha256(str(i).encode()).hexdigest().encode() + b"\n" for i in range(40_000))

    with compressed(sink, compression, "big.csv") as stream:
        for _ in range(4):
            stream.write(block)  # 2.6 MB of hex digits that do not compress away
        before_close = sink.received
    assert before_close > 3_000_000, "compressed bytes leave as they are made, not at the end"
    assert sink.received > before_close and not sink.closed


def test_an_empty_export_compresses_to_a_valid_archive(tmp_path):
    storage = storage_from_url(str(tmp_path))
    with storage.open_write("empty") as output:
        with compressed(output.stream, "zip", "empty.csv") as stream:
            renderer_class("csv")(stream, RenderContext(COLUMNS, {"header": False})).close()
    with storage.open_read("empty") as stored, zipfile.ZipFile(io.BytesIO(stored.read())) as archive:
        assert archive.read("empty.csv") == b""


def test_auto_gzips_text_above_the_threshold(monkeypatch):
    csv = renderer_class("csv")
    size = estimated_bytes(csv, ORDERS, 10_000)
    monkeypatch.setenv(AUTO_THRESHOLD_ENV, str(size))

    assert choose_compression("auto", csv, ORDERS, 10_000) == "none", "at the threshold: not above it"
    assert choose_compression("auto", csv, ORDERS, 10_001) == "gzip"
    assert choose_compression("auto", renderer_class("xlsx"), ORDERS, 10_000_000) == "none", "not text"
    for explicit in ("none", "gzip", "zip"):
        assert choose_compression(explicit, csv, ORDERS, 10_001) == explicit


def test_auto_threshold_defaults_to_20_mb(monkeypatch):
    monkeypatch.delenv(AUTO_THRESHOLD_ENV, raising=False)
    jsonl = renderer_class("jsonl")
    rows_at_threshold = DEFAULT_AUTO_THRESHOLD // estimated_bytes(jsonl, ORDERS, 1)

    assert DEFAULT_AUTO_THRESHOLD == 20_000_000
    assert choose_compression("auto", jsonl, ORDERS, rows_at_threshold) == "none"
    assert choose_compression("auto", jsonl, ORDERS, rows_at_threshold + 1) == "gzip"


def test_json_is_estimated_larger_than_csv():
    one_row = {name: estimated_bytes(renderer_class(name), ORDERS, 1) for name in ("csv", "json", "jsonl")}

    assert one_row["json"] == one_row["jsonl"] > 2 * one_row["csv"]
    assert one_row["csv"] == 125 and one_row["json"] == 292, "calibrated on the demo orders: 121 and 283 written"


def test_a_bad_threshold_says_which_variable(monkeypatch):
    monkeypatch.setenv(AUTO_THRESHOLD_ENV, "20MB")

    with pytest.raises(ValueError, match=AUTO_THRESHOLD_ENV):
        choose_compression("auto", renderer_class("csv"), ORDERS, 1)


def test_every_request_compression_is_known_to_validation():
    assert set(COMPRESSIONS) == {"none", "gzip", "zip", "auto"}
    for compression in COMPRESSIONS:
        check_compression(compression, renderer_class("csv"))
    with pytest.raises(ExportRequestError):
        check_compression("gzip", renderer_class("parquet"))


# ---- through export_job ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_source(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'demo.sqlite'}"
    seed_demo(url, rows=SEED_ROWS)
    return url


@pytest.fixture
def run(seeded_source, dagster_home, tmp_path, monkeypatch):
    """Run export_job in process as the CLI does, as admin on orders; return (audit record, path or None)."""
    monkeypatch.setenv("EXPORT_SOURCE_DB_URL", seeded_source)
    monkeypatch.setenv("EXPORT_DATA_DIR", str(tmp_path / "var"))
    for name in ("EXPORT_STORAGE_URL", "SMTP_HOST", AUTO_THRESHOLD_ENV):
        monkeypatch.delenv(name, raising=False)

    def run_one(**fields):
        request = ExportRequest(user="admin", dataset="orders", chunk_size=400, **fields)
        return run_decrypted(request, DagsterInstance.get(), tmp_path)

    return run_one


def test_job_gzip_and_zip_hold_the_plain_file(run):
    _, plain = run(format="csv")
    gz_record, gz = run(format="csv", compression="gzip")
    zip_record, packed = run(format="csv", compression="zip")

    assert gz.endswith(".csv.gz") and packed.endswith(".csv.zip")
    assert gzip.decompress(Path(gz).read_bytes()) == Path(plain).read_bytes()
    with zipfile.ZipFile(packed) as archive:
        (entry,) = archive.infolist()
        assert entry.filename == Path(packed).name.removesuffix(".zip")
        assert archive.read(entry) == Path(plain).read_bytes()
    for record, path in ((gz_record, gz), (zip_record, packed)):
        assert record.status == "SUCCESS", record.error
        assert record.bytes == Path(path).stat().st_size < Path(plain).stat().st_size
        assert record.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_job_auto_below_the_threshold_writes_the_plain_file(run):
    record, location = run(format="jsonl", compression="auto")

    assert record.status == "SUCCESS", record.error
    assert location.endswith(".jsonl")
    assert len(Path(location).read_text(encoding="utf-8").splitlines()) == SEED_ROWS


def test_job_auto_above_the_threshold_gzips(run, monkeypatch):
    monkeypatch.setenv(AUTO_THRESHOLD_ENV, "50000")  # the 1,500 seeded orders make ~180 kB of CSV
    record, location = run(format="csv", compression="auto")
    monkeypatch.setenv(AUTO_THRESHOLD_ENV, "10000000")
    _, plain = run(format="csv", compression="auto")

    assert record.status == "SUCCESS", record.error
    assert location.endswith(".csv.gz") and plain.endswith(".csv")
    assert gzip.decompress(Path(location).read_bytes()) == Path(plain).read_bytes()


@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_job_estimate_is_close_to_the_real_size(run, format_name):
    _, location = run(format=format_name)

    written = Path(location).stat().st_size
    assert 0.8 < estimated_bytes(renderer_class(format_name), ORDERS, SEED_ROWS) / written < 1.25


def test_job_parquet_refuses_gzip_before_reading_a_row(run):
    record, location = run(format="parquet", compression="gzip")

    assert record.status == "FAILURE" and location is None
    assert "compression" in record.error and "none or auto" in record.error


def test_job_parquet_with_auto_stays_parquet_and_holds_the_source(run, monkeypatch):
    monkeypatch.setenv(AUTO_THRESHOLD_ENV, "1")
    record, location = run(format="parquet", compression="auto", timezone="Europe/Berlin")
    _, jsonl = run(format="jsonl", timezone="Europe/Berlin")

    assert record.status == "SUCCESS", record.error
    assert location.endswith(".parquet")
    frame = pd.read_parquet(location)
    reference = pd.read_json(jsonl, lines=True, dtype=False)
    assert len(frame) == record.rows == SEED_ROWS
    assert str(frame["created_at"].dt.tz) == "Europe/Berlin"
    assert [str(amount) for amount in frame["amount"]] == list(reference["amount"]), "exact decimals"
    assert (frame["created_at"] == pd.to_datetime(reference["created_at"], format="ISO8601", utc=True)).all()
    assert frame["note"].isna().sum() == reference["note"].isna().sum() > 0
    assert (frame["note"] == "").sum() == (reference["note"] == "").sum() > 0

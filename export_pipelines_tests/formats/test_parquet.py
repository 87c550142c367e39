"""Parquet read back with pyarrow.parquet and pandas: types, exact decimals, instants, NULL versus ''."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import renderer_class
from export_pipelines.formats.compression import check_compression, choose_compression
from export_pipelines_tests.formats.samples import (
    COLUMNS,
    NAMES,
    ROWS,
    TIMEZONE,
    chunks,
    render,
    shaped_schema,
    shaped_table,
)


def parquet_file(data: bytes) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(data))


def test_types_are_the_source_types(tmp_path):
    schema = parquet_file(render(tmp_path, "parquet", chunks(2))).schema_arrow

    assert schema.names == NAMES
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("created_at").type == pa.timestamp("us", tz=TIMEZONE)
    assert schema.field("shipped_on").type == pa.date32()
    assert schema.field("is_paid").type == pa.bool_()
    assert schema.field("order_id").type == pa.int64() and schema.field("discount_rate").type == pa.float64()
    assert schema.equals(shaped_schema())


def test_pyarrow_reads_back_every_value(tmp_path):
    records = pq.read_table(io.BytesIO(render(tmp_path, "parquet", chunks(2)))).to_pylist()

    assert len(records) == len(ROWS)
    for record, row in zip(records, ROWS):
        for name in NAMES:
            if name != "created_at":
                assert record[name] == row[name], name  # decimals exact, None stays None, "" stays ""
                assert type(record[name]) is type(row[name]) or row[name] is None, name
        # In the hour Berlin falls back, a wall-clock time is ambiguous and Python never finds it equal
        # to a time in another zone (PEP 495), so instants are compared in UTC.
        created = record["created_at"]
        assert str(created.tzinfo) == TIMEZONE and created.astimezone(UTC) == row["created_at"]
    assert records[1]["note"] == "" and records[0]["note"] is None
    assert records[2]["amount"] == Decimal("9999999.99") and str(records[0]["amount"]) == "1234.50"


def test_pandas_reads_back_every_value(tmp_path):
    frame = pd.read_parquet(io.BytesIO(render(tmp_path, "parquet", chunks(2))))

    assert list(frame.columns) == NAMES and len(frame) == len(ROWS)
    assert str(frame["created_at"].dt.tz) == TIMEZONE
    for index, row in enumerate(ROWS):
        created = frame["created_at"].iloc[index]
        assert created == pd.Timestamp(row["created_at"]), "the same instant"
        assert created.utcoffset() == row["created_at"].astimezone(created.tzinfo).utcoffset()
        assert frame["amount"].iloc[index] == row["amount"] and isinstance(frame["amount"].iloc[index], Decimal)
        assert frame["order_id"].iloc[index] == row["order_id"]
        assert bool(frame["is_paid"].iloc[index]) is row["is_paid"]
        assert frame["customer_name"].iloc[index] == row["customer_name"]
        shipped = frame["shipped_on"].iloc[index]
        assert pd.isna(shipped) if row["shipped_on"] is None else shipped == row["shipped_on"]
    assert pd.isna(frame["note"].iloc[0]) and frame["note"].iloc[1] == ""
    assert pd.isna(frame["discount_rate"].iloc[1]) and frame["discount_rate"].iloc[0] == 0.125


def test_wide_decimals_and_old_dates_survive(tmp_path):
    from export_pipelines.datasets.catalog import ColumnSpec

    columns = (ColumnSpec("amount", "decimal", "Amount", precision=38, scale=10), ColumnSpec("day", "date", "Day"))
    values = [Decimal("1234567890123456789012345678.0123456789"), Decimal("-0.0000000001")]
    table = pa.table(
        {"amount": pa.array(values, pa.decimal128(38, 10)), "day": pa.array([date(1, 1, 1), date(9999, 12, 31)])}
    )

    back = pq.read_table(io.BytesIO(render(tmp_path, "parquet", [table], columns=columns))).to_pylist()

    assert [r["amount"] for r in back] == values and [r["day"] for r in back] == [date(1, 1, 1), date(9999, 12, 31)]


def test_zstd_in_every_column_chunk(tmp_path):
    metadata = parquet_file(render(tmp_path, "parquet", chunks(2))).metadata

    for group in range(metadata.num_row_groups):
        for column in range(metadata.num_columns):
            assert metadata.row_group(group).column(column).compression == "ZSTD"


def test_row_groups_have_row_group_size_rows_however_the_rows_are_chunked(tmp_path):
    # Chunks of row_group_size rows give one row group per chunk ...
    aligned = render(tmp_path, "parquet", chunks(2), options={"row_group_size": 2})
    # ... and other chunkings give the same row groups, and the same bytes.
    ragged = render(tmp_path, "parquet", chunks(1, 3), options={"row_group_size": 2})
    metadata = parquet_file(aligned).metadata

    assert metadata.num_row_groups == len(chunks(2)) == 2
    assert [metadata.row_group(i).num_rows for i in range(2)] == [2, 2]
    assert ragged == aligned
    three = parquet_file(render(tmp_path, "parquet", chunks(), options={"row_group_size": 3})).metadata
    assert [three.row_group(i).num_rows for i in range(three.num_row_groups)] == [3, 1]


def test_default_row_groups_hold_the_chunks_of_a_job(tmp_path):
    metadata = parquet_file(render(tmp_path, "parquet", chunks(1, 2, 3))).metadata

    assert metadata.num_row_groups == 1 and metadata.num_rows == len(ROWS)


def test_empty_export_is_a_parquet_file_with_the_schema(tmp_path):
    table = pq.read_table(io.BytesIO(render(tmp_path, "parquet", [])))

    assert table.num_rows == 0 and table.schema.equals(shaped_schema())


def test_a_higher_compression_level_is_applied(tmp_path):
    # Parquet does not record the zstd level, so it shows in the size: 20,000 rows (four rows would
    # compress alike at every level), varied enough that a higher level finds more to remove.
    rows = [dict(ROWS[i % 4], order_id=i, customer_id=i * 7919 % 100_003, quantity=i % 97) for i in range(20_000)]
    table = shaped_table(rows)
    fast = render(tmp_path, "parquet", [table], options={"compression_level": 1})
    default = render(tmp_path, "parquet", [table])
    small = render(tmp_path, "parquet", [table], options={"compression_level": 19})

    assert len(small) < len(default) < len(fast), (len(small), len(default), len(fast))
    assert default == render(tmp_path, "parquet", [table], options={"compression_level": 3})
    for data in (fast, default, small):
        assert pq.read_table(io.BytesIO(data)).equals(table)


def test_columns_whose_values_rarely_repeat_give_up_their_dictionary_early(tmp_path):
    # 60,000 distinct keys make a 480 KB dictionary: under Arrow's own limit (1 MiB), past the renderer's.
    rows = [dict(ROWS[i % 4], order_id=i * 7_919_573 % 1_000_003) for i in range(60_000)]
    table = shaped_table(rows)
    metadata = parquet_file(data := render(tmp_path, "parquet", [table])).metadata
    columns = {metadata.schema.column(i).name: metadata.row_group(0).column(i) for i in range(metadata.num_columns)}

    key = columns["order_id"]
    assert key.data_page_offset - key.dictionary_page_offset <= 64 << 10  # the dictionary page
    status = columns["status"]  # four values: its dictionary is kept
    assert status.has_dictionary_page and "RLE_DICTIONARY" in status.encodings
    assert pq.read_table(io.BytesIO(data)).equals(table)


@pytest.mark.parametrize(
    ("option", "value"),
    [("compression_level", 0), ("compression_level", 23), ("compression_level", "3"), ("row_group_size", 0),
     ("row_group_size", 1_000_001), ("row_group_size", True)],
)  # fmt: skip
def test_invalid_option_values_are_refused(option, value):
    with pytest.raises(ExportRequestError) as refused:
        renderer_class("parquet").check_options({option: value})

    assert refused.value.field == f"format_options.{option}" and repr(value) in str(refused.value)


@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_gzip_or_zip_around_parquet_is_refused(compression):
    with pytest.raises(ExportRequestError) as refused:
        check_compression(compression, renderer_class("parquet"))

    assert refused.value.field == "compression" and "none or auto" in str(refused.value)


def test_auto_never_compresses_parquet(monkeypatch):
    monkeypatch.setenv("EXPORT_AUTO_COMPRESS_BYTES", "1")
    check_compression("auto", renderer_class("parquet"))

    assert choose_compression("auto", renderer_class("parquet"), COLUMNS, 10_000_000) == "none"


def test_timestamps_are_instants_not_wall_clock(tmp_path):
    table = pq.read_table(io.BytesIO(render(tmp_path, "parquet", chunks())))
    utc = table.column("created_at").cast(pa.timestamp("us", tz="UTC")).to_pylist()

    assert utc == [row["created_at"] for row in ROWS]
    assert all(isinstance(moment, datetime) for moment in utc)

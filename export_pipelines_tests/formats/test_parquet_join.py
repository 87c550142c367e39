"""Row groups encoded as files of their own and joined: the bytes pyarrow's one ParquetWriter writes."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from export_pipelines.formats.parquet import DICTIONARY_PAGE_LIMIT
from export_pipelines.formats.parquet_join import ParquetJoiner
from export_pipelines_tests.formats.samples import ROWS, chunks, render, shaped_table

OPTIONS = {"compression": "zstd", "compression_level": 3, "dictionary_pagesize_limit": DICTIONARY_PAGE_LIMIT}


def one_writer(groups: list[pa.Table], **options) -> bytes:
    output = io.BytesIO()
    with pq.ParquetWriter(output, groups[0].schema, **OPTIONS, **options) as writer:
        for group in groups:
            writer.write_table(group, row_group_size=group.num_rows)
    return output.getvalue()


def joined(groups: list[pa.Table], **options) -> bytes:
    output = io.BytesIO()
    joiner = ParquetJoiner(output)
    for group in groups:
        joiner.add(one_writer([group], **options))
    joiner.close()
    return output.getvalue()


def varied(count: int) -> pa.Table:
    rows = [dict(ROWS[i % 4], order_id=i, customer_id=i * 7919 % 100_003, quantity=i % 97) for i in range(count)]
    return shaped_table(rows)


def row_groups(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]


@pytest.mark.parametrize(
    ("groups", "options"),
    [
        (chunks(1, 2, 3), {}),  # four row groups of one row: NULLs, "", wide text
        (row_groups(varied(20_000), 3_000), {}),  # the last one shorter; dictionaries given up halfway
        (row_groups(varied(5_000), 2_000), {"write_statistics": False, "use_dictionary": False}),
    ],
    ids=["tiny", "many", "plain"],
)
def test_joined_files_are_the_file_one_writer_writes(groups, options):
    data = joined(groups, **options)

    assert data == one_writer(groups, **options)
    assert pq.read_table(io.BytesIO(data)).equals(pa.concat_tables(groups))


def test_page_indexes_stay_after_their_row_group_and_are_found():
    # One writer puts every row group's page index at the end; joined, each stays after its own row group.
    groups = row_groups(varied(5_000), 2_000)
    data = joined(groups, write_page_index=True)

    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert metadata.num_rows == 5_000 and [metadata.row_group(i).num_rows for i in range(3)] == [2_000, 2_000, 1_000]
    assert pq.read_table(io.BytesIO(data), filters=[("order_id", ">=", 4_500)]).equals(varied(5_000).slice(4_500))


def test_one_part_is_the_part_itself():
    part = one_writer(chunks())

    assert joined(chunks()) == part


def test_what_is_not_parquet_is_refused():
    joiner = ParquetJoiner(io.BytesIO())

    with pytest.raises(ValueError, match="not a Parquet file"):
        joiner.add(b"PAR1 but not a footer")
    with pytest.raises(ValueError, match="no Parquet file"):
        joiner.close()


def test_the_renderer_writes_what_one_writer_writes(tmp_path):
    # Row groups are encoded on several threads and joined: the file is the one a single ParquetWriter
    # writes, whatever the chunks, with more row groups than threads in flight.
    table = varied(12_000)
    data = render(tmp_path, "parquet", row_groups(table, 1_700), options={"row_group_size": 1_000})

    assert data == one_writer(row_groups(table, 1_000))

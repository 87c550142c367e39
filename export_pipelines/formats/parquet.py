"""Parquet: the export's Arrow columns as they are, for loading into warehouses and data frames.

Types are kept, not turned into text: decimals stay decimal128 (exact), timestamps stay
timestamp[us] with the request's time zone (Parquet stores the instant as UTC and Arrow's schema,
saved in the file, names the zone, so pandas and pyarrow read back aware timestamps), dates stay
date32, booleans bool, NULL stays NULL and "" stays "".

Pages are compressed with zstd inside the file, so gzip or zip around it saves nothing and hides
the file from Parquet readers (which need to seek to the footer): validation refuses them
(``compressed_inside``) and ``compression: auto`` leaves Parquet as it is.

Row groups have ``row_group_size`` rows (the last one fewer), whatever the size of the chunks the
export arrives in: chunks are buffered until a row group is full (so memory holds at most about
one row group besides the current chunk), and each row group is written with one ``write_table``
from contiguous arrays. Tying row groups to chunks instead would make the bytes depend on the
request's ``chunk_size`` (the same rows must give the same file however they are chunked) and
would give readers thousands of tiny row groups for small chunks.

A column's dictionary is given up once it grows past ``DICTIONARY_PAGE_LIMIT`` in a row group (the
rest of the row group is written plain, as a full dictionary page makes Arrow do): a column whose
values rarely repeat (keys, amounts, instants) gains nothing from a dictionary, and Arrow's own
limit (1 MiB) keeps one per row group for them, which makes the file larger and the writing slower.
1M demo orders: 18.9 MB instead of 23.1 MB (DuckDB's zstd file: 18.9 MB), 0.44 s of CPU instead of 0.55 s.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats.base import Renderer

MAX_ROW_GROUP_SIZE = 1_000_000
DICTIONARY_PAGE_LIMIT = 64 << 10


class ParquetRenderer(Renderer):
    """Apache Parquet with the source types (decimal, zoned timestamp, date, bool), zstd-compressed."""

    name = "parquet"
    extension = "parquet"
    media_type = "application/vnd.apache.parquet"
    # Read by the compression check: gzip or zip around this format is refused.
    compressed_inside = True
    options = {
        "compression_level": (3, "zstd level, 1 (fastest) to 22 (smallest); 3 is a good balance."),
        "row_group_size": (
            100_000,
            f"Rows per row group, 1 to {MAX_ROW_GROUP_SIZE:,}: the unit readers skip or read in parallel.",
        ),
    }

    @classmethod
    def validate_settings(cls, settings):
        _require_whole_number(settings, "compression_level", 1, 22)
        _require_whole_number(settings, "row_group_size", 1, MAX_ROW_GROUP_SIZE)

    def __init__(self, stream, context):
        super().__init__(stream, context)
        self._schema = pa.schema(
            pa.field(c.name, pa.timestamp("us", tz=context.timezone) if c.type == "timestamp" else c.arrow_type)
            for c in context.columns
        )
        self._writer = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:  # an empty row group would make the file depend on the chunking
            return
        if not table.schema.equals(self._schema):
            table = table.cast(self._schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        size = self.settings["row_group_size"]
        while self._pending_rows >= size:
            rows = pa.concat_tables(self._pending)
            self._write_row_group(rows.slice(0, size))
            rest = rows.slice(size)
            self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        if self._pending_rows:
            self._write_row_group(pa.concat_tables(self._pending))
            self._pending, self._pending_rows = [], 0
        self._parquet_writer().close()  # writes the footer; the stream itself stays open

    def _write_row_group(self, rows: pa.Table) -> None:
        # Contiguous arrays: how the rows were chunked must not change page boundaries or bytes.
        self._parquet_writer().write_table(rows.combine_chunks(), row_group_size=rows.num_rows)

    def _parquet_writer(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self.stream,
                self._schema,
                compression="zstd",
                compression_level=self.settings["compression_level"],
                dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
            )
        return self._writer


def _require_whole_number(settings: dict, name: str, low: int, high: int) -> None:
    value = settings[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        allowed = f"a whole number, {low} to {high:,}"
        raise ExportRequestError(f"format_options.{name}", f"{value!r} is not valid", allowed)

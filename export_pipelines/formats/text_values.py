"""Vectorised conversions shared by text formats, so no format formats values row by row."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def iso_timestamps(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """ISO 8601 with the offset of the array's time zone, e.g. 2024-05-31T14:00:00.000000+02:00."""
    text = pc.strftime(array, format="%Y-%m-%dT%H:%M:%S%z")
    return pc.replace_substring_regex(text, pattern=r"([+-]\d\d)(\d\d)$", replacement=r"\1:\2")


def with_text_timestamps(table: pa.Table) -> pa.Table:
    """Replace every timestamp column by its ISO 8601 text; other columns are left as they are."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(index, field.name, iso_timestamps(table.column(index)))
    return table

"""Turning Arrow chunks into JSON-ready rows, shared by the JSON and JSON Lines formats.

Conversions are vectorised per column before any row exists: timestamps and dates become ISO
8601 text, decimals become exact strings (or numbers, by option), non-finite floats become null.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.formats.base import require_choice
from export_pipelines.formats.text_values import iso_timestamps

JSON_OPTIONS = {
    "decimals": ("string", "Decimals as exact 'string' (default) or as JSON 'number'."),
}
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def validate_json_settings(settings: dict) -> None:
    require_choice(settings, "decimals", ("string", "number"))


def _json_ready(array: pa.ChunkedArray, decimals: str) -> pa.ChunkedArray:
    kind = array.type
    if pa.types.is_timestamp(kind):
        return iso_timestamps(array)
    if pa.types.is_date(kind):
        return array.cast(pa.string())
    if pa.types.is_decimal(kind):
        return array.cast(pa.float64() if decimals == "number" else pa.string())
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(array), array, pa.scalar(None, kind))
    return array


def json_lines(table: pa.Table, settings: dict) -> Iterator[str]:
    """One compact JSON object per row, keys in column order."""
    names = table.column_names
    columns = [_json_ready(table.column(i), settings["decimals"]).to_pylist() for i in range(len(names))]
    for values in zip(*columns):
        yield _encode(dict(zip(names, values)))

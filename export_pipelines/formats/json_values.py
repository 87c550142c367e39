"""Turning Arrow chunks into JSON text, shared by the JSON and JSON Lines formats.

Each column becomes the JSON text of its values with Arrow kernels, and the objects are joined
column by column (``binary_join_element_wise``), so no Python dict or per-row encoder call exists:
- integers and booleans: Arrow's text, which is JSON's (``true``/``false``);
- decimals: Arrow's exact text, as a string (default) or as a bare JSON number (``decimals:
  number``). The number is the decimal's own digits, never a float, so 38-digit decimals keep every
  digit; readers that parse numbers as doubles round them, which is why strings are the default;
- floats: Python's ``repr`` (shortest round-trip text, ``2.0`` stays a float), as ``json`` writes
  them; NaN and infinities, which JSON cannot hold, become null;
- dates and timestamps: quoted ISO 8601, timestamps with the offset of the request's time zone;
- text: quoted as it is when it holds no quote, backslash or control character (JSON needs no
  escape then); the few values that do are escaped by the json module's own encoder;
- NULL: ``null``. Keys are in column order; output is UTF-8 with non-ASCII unescaped, exactly
  what ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))`` writes.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.display.text import column_formatters, formatted_table
from export_pipelines.formats.base import require_choice
from export_pipelines.formats.parallel import encoded_blocks
from export_pipelines.formats.text_values import iso_timestamps

JSON_OPTIONS = {
    "decimals": ("string", "Decimals as exact 'string' (default) or as exact JSON 'number'."),
}
# What JSON strings must escape (RFC 8259): the quote, the backslash and U+0000 to U+001F.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def display_formatters(context) -> list | None:
    """One display formatter per column with ``formatted: true``; None: raw values (the default)."""
    return column_formatters(context.columns, context.display) if context.display.formatted else None


def validate_json_settings(settings: dict) -> None:
    require_choice(settings, "decimals", ("string", "number"))


def json_chunk(table: pa.Table, settings: dict, separator: bytes, formatters: list | None = None) -> bytes:
    """UTF-8 JSON objects, one per row, joined by ``separator``; b"" for no rows.

    Blocks of rows are encoded on every core (see formats.parallel). ``formatters`` (``formatted: true``)
    turn columns into their display text first, which JSON then writes as strings.
    """
    if not table.num_rows:
        return b""
    names = table.column_names
    keys = [_text(("{" if i == 0 else ",") + encode_basestring(name) + ":") for i, name in enumerate(names)]
    text_separator = _text(separator.decode("utf-8"))

    def encode(block: pa.Table) -> pa.Buffer:
        block = block.combine_chunks()
        if formatters:
            block = formatted_table(block, formatters)
        parts = []
        for key, column in zip(keys, block.columns):
            parts += [key, _json_values(column.combine_chunks(), settings["decimals"])]
        objects = pc.binary_join_element_wise(*parts, _text("}"), _text(""))
        # Large types throughout: a block of long texts may pass the 2 GB that string offsets can address.
        whole = pa.LargeListArray.from_arrays(pa.array([0, len(objects)], pa.int64()), objects)
        return pc.binary_join(whole, text_separator)[0].as_buffer()

    return separator.join(encoded_blocks(table, encode))


def _json_values(array: pa.Array, decimals: str) -> pa.Array:
    """The JSON text of every value of ``array`` (``null`` for NULL), as a large_string array."""
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        text = array.cast(pa.string())
    elif pa.types.is_decimal(kind):
        text = array.cast(pa.string())
        text = text if decimals == "number" else _quoted(text)
    elif pa.types.is_timestamp(kind):
        text = _quoted(iso_timestamps(array))
    elif pa.types.is_date(kind):
        text = _quoted(array.cast(pa.string()))
    elif pa.types.is_floating(kind):
        finite = pc.and_(pc.is_finite(array), pc.is_valid(array))
        reprs = pa.array(map(float.__repr__, array.cast(pa.float64()).fill_null(0.0).to_pylist()), pa.string())
        text = pc.if_else(finite, reprs, pa.scalar(None, pa.string()))
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _quoted_text(array)
    else:  # no staged type lands here; kept so a new column type is still valid JSON
        text = pa.array(map(_encode, array.to_pylist()), pa.string())
    return text.cast(pa.large_string()).fill_null("null")


def _quoted(text: pa.Array) -> pa.Array:
    """Quote text that holds nothing JSON escapes (digits, signs, ISO dates)."""
    return pc.binary_join_element_wise('"', text, '"', "")


def _quoted_text(text: pa.Array) -> pa.Array:
    escape = pc.match_substring_regex(text, _NEEDS_ESCAPE)
    quoted = _quoted(text)
    if not pc.any(escape).as_py():
        return quoted
    escaped = pa.array(map(encode_basestring, pc.filter(text, escape).to_pylist()), text.type)
    return pc.replace_with_mask(quoted, pc.fill_null(escape, False), escaped)


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())

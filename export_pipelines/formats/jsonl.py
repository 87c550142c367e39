"""JSON Lines: one object per line, the format of choice for loading into other systems."""

from __future__ import annotations

import pyarrow as pa

from export_pipelines.formats.base import ChunkEncodingRenderer
from export_pipelines.formats.json_values import JSON_OPTIONS, display_formatters, json_chunk, validate_json_settings
from export_pipelines.formats.sql_text import jsonl_server_text


class JsonLinesRenderer(ChunkEncodingRenderer):
    """Newline-delimited JSON objects keyed by column name."""

    name = "jsonl"
    extension = "jsonl"
    media_type = "application/x-ndjson"
    options = JSON_OPTIONS

    @classmethod
    def validate_settings(cls, settings):
        validate_json_settings(settings)

    def __init__(self, stream, context):
        super().__init__(stream, context)
        self._formatters = display_formatters(context)

    def encode_chunk(self, table: pa.Table, first_row: int) -> bytes:
        return json_chunk(table, self.settings, b"\n", self._formatters) + b"\n" if table.num_rows else b""

    def server_text(self):
        if self.context.display.formatted:  # display text (export_pipelines.display) is written here, from rows
            return None
        return jsonl_server_text(self.settings, self.context.columns, self.context.timezone)

    APPENDS_IN_PIECES = True  # chunks are joined as they are

    def write_encoded(self, data: bytes) -> None:
        self.stream.write(data)

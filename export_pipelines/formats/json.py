"""JSON: one array of objects, streamed element by element so memory stays flat."""

from __future__ import annotations

import pyarrow as pa

from export_pipelines.formats.base import ChunkEncodingRenderer
from export_pipelines.formats.json_values import JSON_OPTIONS, display_formatters, json_chunk, validate_json_settings


class JsonRenderer(ChunkEncodingRenderer):
    """A JSON array of objects keyed by column name."""

    name = "json"
    extension = "json"
    media_type = "application/json"
    options = JSON_OPTIONS

    @classmethod
    def validate_settings(cls, settings):
        validate_json_settings(settings)

    def __init__(self, stream, context):
        super().__init__(stream, context)
        self._separator = b"[\n"
        self._formatters = display_formatters(context)

    def encode_chunk(self, table: pa.Table, first_row: int) -> bytes:
        return json_chunk(table, self.settings, b",\n", self._formatters)

    def write_encoded(self, data: bytes) -> None:
        if data:  # the elements of a chunk are joined already; chunks need the separator between them
            self.stream.write(self._separator)
            self.stream.write(data)
            self._separator = b",\n"

    def close(self) -> None:
        self.stream.write(b"[]\n" if self._separator == b"[\n" else b"\n]\n")

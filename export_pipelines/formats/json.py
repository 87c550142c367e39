"""JSON: one array of objects, streamed element by element so memory stays flat."""

from __future__ import annotations

import pyarrow as pa

from export_pipelines.formats.base import Renderer
from export_pipelines.formats.json_values import JSON_OPTIONS, json_blocks, validate_json_settings


class JsonRenderer(Renderer):
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

    def write(self, table: pa.Table) -> None:
        for block in json_blocks(table, self.settings, ",\n"):
            self.stream.write(self._separator)
            self.stream.write(block)
            self._separator = b",\n"

    def close(self) -> None:
        self.stream.write(b"[]\n" if self._separator == b"[\n" else b"\n]\n")

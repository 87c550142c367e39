"""JSON Lines: one object per line, the format of choice for loading into other systems."""

from __future__ import annotations

import pyarrow as pa

from export_pipelines.formats.base import Renderer
from export_pipelines.formats.json_values import JSON_OPTIONS, json_blocks, validate_json_settings


class JsonLinesRenderer(Renderer):
    """Newline-delimited JSON objects keyed by column name."""

    name = "jsonl"
    extension = "jsonl"
    media_type = "application/x-ndjson"
    options = JSON_OPTIONS

    @classmethod
    def validate_settings(cls, settings):
        validate_json_settings(settings)

    def write(self, table: pa.Table) -> None:
        for block in json_blocks(table, self.settings, "\n"):
            self.stream.write(block)
            self.stream.write(b"\n")

"""CSV: Arrow's C++ writer, so large exports cost little beyond reading the rows.

Strings are always quoted and NULL is written as nothing, so an empty string ("") and a
missing value stay distinguishable; timestamps are ISO 8601 with the request's offset.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv

from export_pipelines.formats.base import Renderer, require_choice
from export_pipelines.formats.text_values import with_text_timestamps


class CsvRenderer(Renderer):
    """Comma-separated values with a header row of column labels (or names)."""

    name = "csv"
    extension = "csv"
    media_type = "text/csv"
    options = {
        "header": (True, "Write a header row."),
        "header_style": ("label", "Header text: 'label' (catalog labels) or 'name' (column names)."),
    }

    @classmethod
    def validate_settings(cls, settings):
        require_choice(settings, "header", (True, False))
        require_choice(settings, "header_style", ("label", "name"))

    def __init__(self, stream, context):
        super().__init__(stream, context)
        self._writer = None
        by_label = self.settings["header_style"] == "label"
        self._header = [c.label if by_label else c.name for c in context.columns]

    def write(self, table: pa.Table) -> None:
        table = with_text_timestamps(table).rename_columns(self._header)
        if self._writer is None:
            options = pacsv.WriteOptions(include_header=self.settings["header"], quoting_style="needed")
            self._writer = pacsv.CSVWriter(self.stream, table.schema, write_options=options)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is None:  # no rows at all: still a valid file with its header
            empty = pa.schema([pa.field(name, pa.string()) for name in self._header]).empty_table()
            self.write(empty)
        self._writer.close()

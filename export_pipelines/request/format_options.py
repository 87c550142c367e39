"""The options of the output formats, typed for the launchpad: choices are enums, each option says its formats.

Kept apart from the request model (``request.model``), which holds them as ``format_options``; the
display rules (``request.formatting``) build their own choices with ``choices`` too.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from dagster import Config
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr


def choices(name: str, *values: str) -> type[Enum]:
    """A closed set of option values that may be left unset (the format's default), for the launchpad.

    A Literal cannot be: Dagster refuses a null default for it. An optional enum can, and becomes an
    Enum in the launchpad's schema. Its members are named by their values, and it bears the name Dagster
    gives a Literal (``Literal['label', 'name']``), so the launchpad shows it like ``format`` and
    its message for a typo lists the values.
    """
    title = f"Literal[{', '.join(map(repr, values))}]"
    return Enum(title, [(value, value) for value in values], type=str, module=__name__, qualname=name)


HeaderStyle = choices("HeaderStyle", "label", "name")
Quoting = choices("Quoting", "needed", "all", "minimal", "none")
LineEnding = choices("LineEnding", "lf", "crlf")
Encoding = choices("Encoding", "utf-8", "utf-16", "latin-1", "cp1252")
EncodingErrors = choices("EncodingErrors", "fail", "replace")
Decimals = choices("Decimals", "string", "number")


class FormatOptions(Config):
    """Options of the output format; one left out (or null) takes the format's default.

    Each description starts with the formats the option applies to (a test keeps that equal to the
    renderers' ``options``); naming an option of another format is refused when the request is
    checked. Each format's module documents its options in full.
    """

    # Enum members are stored as their values: the request stays plain data (run config, pickling).
    model_config = ConfigDict(use_enum_values=True)

    header: StrictBool | None = Field(default=None, description="csv: write a header row (default true).")
    header_style: HeaderStyle | None = Field(
        default=None,
        description="csv, xlsx: header text, 'label' (catalog labels, the default; in xlsx timestamp headers "
        "name their time zone) or 'name' (column names).",
    )
    delimiter: StrictStr | None = Field(
        default=None, description="csv: one character between values, e.g. , ; | or a tab (default ,)."
    )
    quoting: Quoting | None = Field(
        default=None,
        description="csv: 'needed' (the default) quotes text values, so NULL and \"\" differ; 'all' quotes every "
        "non-NULL value; 'minimal' only values holding the delimiter, a quote or a line break (slower); "
        "'none' never quotes, and fails on a value that would need it.",
    )
    line_ending: LineEnding | None = Field(
        default=None, description="csv: row ending, 'lf' (\\n, the default) or 'crlf' (\\r\\n, Windows)."
    )
    encoding: Encoding | None = Field(
        default=None,
        description="csv: 'utf-8' (the default), 'utf-16' (with byte order mark), 'latin-1' or 'cp1252' "
        "(Windows Western European).",
    )
    encoding_errors: EncodingErrors | None = Field(
        default=None,
        description="csv: a character the encoding cannot hold 'fail's the export, naming row and column "
        "(the default), or is 'replace'd by ?.",
    )
    bom: StrictBool | None = Field(
        default=None,
        description="csv: start UTF-8 output with a byte order mark, so Excel reads non-ASCII text (default false).",
    )
    formula_guard: StrictBool | None = Field(
        default=None,
        description="csv, xlsx: text starting with = + - @ (in csv also tab or CR) is marked as text, so a "
        "spreadsheet never runs it as a formula (default true; turn off for files meant for programs).",
    )
    decimals: Decimals | None = Field(
        default=None, description="json, jsonl: decimals as exact 'string' (the default) or as exact JSON 'number'."
    )
    compression_level: StrictInt | None = Field(
        default=None, description="parquet: zstd level, 1 (fastest) to 22 (smallest); default 3."
    )
    row_group_size: StrictInt | None = Field(
        default=None,
        description="parquet: rows per row group, 1 to 1,000,000 (default 100,000): the unit readers skip or "
        "read in parallel.",
    )
    template: StrictStr | None = Field(
        default=None,
        description="pdf: report template, a shipped name such as 'default' (the default), a name in "
        "$EXPORT_REPORT_TEMPLATE_DIR, or a path relative to those folders such as 'finance/monthly.yaml'.",
    )
    max_rows_per_sheet: StrictInt | None = Field(
        default=None,
        description="xlsx: data rows per sheet, 1 to 1,048,575 (the default); more continue on a new sheet "
        "with the header repeated.",
    )
    date_format: StrictStr | None = Field(
        default=None, description="xlsx: Excel number format of date cells (default yyyy-mm-dd)."
    )
    timestamp_format: StrictStr | None = Field(
        default=None,
        description="xlsx: Excel number format of timestamp cells, wall-clock time in the request's time zone "
        "(default yyyy-mm-dd hh:mm:ss.000).",
    )

    def given(self) -> dict[str, Any]:
        """The options set, by name: what the renderer merges over its defaults."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


FORMAT_OPTIONS: tuple[str, ...] = tuple(FormatOptions.model_fields)

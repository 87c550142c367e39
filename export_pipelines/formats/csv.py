"""CSV: Arrow's C++ writer, so large exports cost little beyond reading the rows.

By default text values are quoted and NULL is written as nothing, so an empty string ("") and a
missing value stay distinguishable; timestamps are ISO 8601 with the request's offset. Options:

- ``quoting``: ``needed`` (the default) quotes every text value and nothing else; ``all`` quotes
  every value but NULL. Both keep NULL apart from "". ``minimal`` quotes only values holding the
  delimiter, a quote or a line break, as most spreadsheets write; NULL and "" are then both empty.
  Arrow cannot quote that way, so ``minimal`` goes through the standard library's csv module, a
  few times slower (see benchmarks/formats_bench.py). ``none`` quotes nothing and fails the export,
  naming the row and column, if a value holds the delimiter, a quote or a line break.
- ``delimiter``: one character. Characters that occur in unquoted numbers, dates and booleans
  (letters, digits, ``. - + :``), quotes and line breaks are refused: the file could not be read back.
- ``line_ending``: ``lf`` or ``crlf``; line breaks inside quoted values are written as they are.
- ``encoding``: ``utf-8`` (the default), ``utf-16`` (little-endian, always with its byte order
  mark), ``latin-1`` or ``cp1252``. A character the encoding cannot hold fails the export with the
  row, column and character (``encoding_errors: fail``), or is written as ``?`` (``replace``).
- ``bom``: start UTF-8 output with a byte order mark, so Excel reads non-ASCII text as UTF-8.
- ``formula_guard`` (on by default): text starting with ``= + - @``, a tab or a carriage return
  gets a leading ``'``, so a spreadsheet shows it as text instead of running it (OWASP "CSV
  injection"). The value changes, so turn it off for files meant for programs, not people.

With ``formatted: true`` (a request field) columns are written as the display text of their rules
(``export_pipelines.display``), after the formula guard; headers take the rules' labels either way.

Everything is vectorised with Arrow compute; the only per-row Python is the stdlib csv writer
of ``quoting: minimal``.
"""

from __future__ import annotations

import codecs
import csv
import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from export_pipelines.display.text import column_formatters, formatted_table
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats.base import ChunkEncodingRenderer, require_choice
from export_pipelines.formats.parallel import encoded_blocks
from export_pipelines.formats.sql_text import csv_server_text
from export_pipelines.formats.text_values import with_text_timestamps

QUOTING = ("needed", "all", "minimal", "none")
ENCODINGS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "latin-1": "latin-1", "cp1252": "cp1252"}
LINE_ENDINGS = {"lf": "\n", "crlf": "\r\n"}
# OWASP: spreadsheets run a cell starting with one of these as a formula (tab and CR included).
FORMULA_TRIGGERS = "=+-@\t\r"
_TRIGGER_BYTES = pa.array([character.encode() for character in FORMULA_TRIGGERS], pa.binary())
_ARROW_QUOTING = {"needed": "needed", "all": "all_valid", "none": "none"}
# Unquoted numbers, dates, booleans and infinities are made of these; a delimiter among them splits values.
_IN_UNQUOTED_VALUES = set(".-+:")


class CsvRenderer(ChunkEncodingRenderer):
    """Comma-separated values with a header row of column labels (or names)."""

    name = "csv"
    extension = "csv"
    media_type = "text/csv"
    options = {
        "header": (True, "Write a header row."),
        "header_style": ("label", "Header text: 'label' (catalog labels) or 'name' (column names)."),
        "delimiter": (",", "One character between values, e.g. ',' ';' '|' or a tab."),
        "quoting": (
            "needed",
            "'needed': quote text values (NULL and \"\" differ); 'all': quote every non-NULL value; "
            "'minimal': quote only values that contain the delimiter, a quote or a line break (slower); "
            "'none': never quote, and fail on a value that would need it.",
        ),
        "line_ending": ("lf", "Row ending: 'lf' (\\n) or 'crlf' (\\r\\n, Windows)."),
        "encoding": (
            "utf-8",
            "'utf-8', 'utf-16' (with byte order mark), 'latin-1' or 'cp1252' (Windows Western European).",
        ),
        "encoding_errors": (
            "fail",
            "A character the encoding cannot hold: 'fail' the export (naming row and column) or 'replace' it by '?'.",
        ),
        "bom": (False, "Start UTF-8 output with a byte order mark, so Excel reads non-ASCII text correctly."),
        "formula_guard": (
            True,
            "Prefix text starting with = + - @, tab or CR with ' so spreadsheets never run it as a formula.",
        ),
    }

    @classmethod
    def validate_settings(cls, settings):
        for flag in ("header", "bom", "formula_guard"):
            require_choice(settings, flag, (True, False))
        require_choice(settings, "header_style", ("label", "name"))
        require_choice(settings, "quoting", QUOTING)
        require_choice(settings, "line_ending", tuple(LINE_ENDINGS))
        require_choice(settings, "encoding", tuple(ENCODINGS))
        require_choice(settings, "encoding_errors", ("fail", "replace"))
        delimiter = settings["delimiter"]
        if (
            not isinstance(delimiter, str)
            or len(delimiter) != 1
            or delimiter in '"\r\n'
            or delimiter.isalnum()
            or delimiter in _IN_UNQUOTED_VALUES
        ):
            raise ExportRequestError(
                "format_options.delimiter",
                f"{delimiter!r} cannot separate values",
                "one character such as , ; | or a tab; not a quote, a line break, a letter, a digit or . - + :",
            )
        if settings["bom"] and settings["encoding"] not in ("utf-8", "utf-16"):
            raise ExportRequestError(
                "format_options.bom", f"{settings['encoding']} has no byte order mark", "false, or encoding utf-8"
            )

    @classmethod
    def check_columns(cls, settings, columns):
        if settings["quoting"] != "none" or not settings["header"]:
            return
        structural = (settings["delimiter"], '"', "\r", "\n")
        for header in _header(settings, columns):
            if any(character in header for character in structural):
                raise ExportRequestError(
                    "format_options.quoting",
                    f"'none' cannot write the header {header!r}: it holds the delimiter, a quote or a line break",
                    "needed, all or minimal, or header_style 'name'",
                )

    def __init__(self, stream, context):
        super().__init__(stream, context)
        settings = self.settings
        self.check_columns(settings, context.labelled())
        self._header = _header(settings, context.labelled())
        # formatted: true writes each column's display text (vectorised, one formatter per column built here).
        self._formatters = column_formatters(context.columns, context.display) if context.display.formatted else None
        self._eol = LINE_ENDINGS[settings["line_ending"]]
        self._codec = ENCODINGS[settings["encoding"]]
        self._errors = "strict" if settings["encoding_errors"] == "fail" else "replace"
        self._stdlib = settings["quoting"] == "minimal"
        self._started = False

    def encode_chunk(self, table: pa.Table, first_row: int) -> bytes:
        table = table.rename_columns(self._header)
        if self.settings["quoting"] == "none":
            self._refuse_unquotable(table, first_row)
        # Blocks are encoded on every core (see formats.parallel) and joined in row order.
        parts, row = [], first_row
        for data, block in encoded_blocks(table, self._encode):
            # Arrow writes UTF-8: other encodings are transcoded, block by block.
            parts.append(data if self._codec == "utf-8" else self._transcoded(str(data, "utf-8"), block, row))
            row += block.num_rows
        return b"".join(parts)

    def server_text(self):
        if self.context.display.formatted:  # display text (export_pipelines.display) is written here, from rows
            return None
        return csv_server_text(self.settings, self.context.columns, self.context.timezone)

    APPENDS_IN_PIECES = True  # chunks are joined as they are

    def write_encoded(self, data: bytes) -> None:
        if not self._started:
            self._start()
        self.stream.write(data)

    def close(self) -> None:
        if not self._started:  # no rows at all: still a valid file, with its header
            self._start()

    def _start(self) -> None:
        self._started = True
        if self._codec == "utf-16-le":
            self.stream.write(codecs.BOM_UTF16_LE)
        elif self.settings["bom"]:
            self.stream.write(codecs.BOM_UTF8)
        if self.settings["header"]:
            self.stream.write(self._transcoded(self._header_line(), None, 0))

    def _header_line(self) -> str:
        if self._stdlib:
            return self._stdlib_text([self._header])
        empty = pa.schema([pa.field(name, pa.string()) for name in self._header]).empty_table()
        return str(self._arrow_bytes(empty, include_header=True), "utf-8")

    def _encode(self, block: pa.Table) -> tuple[bytes | pa.Buffer, pa.Table]:
        """One block as UTF-8 CSV text, with the block it came from."""
        block = self._guarded(block)  # before the display text: only the exported text itself is guarded
        block = with_text_timestamps(formatted_table(block, self._formatters) if self._formatters else block)
        if self._stdlib:
            return self._stdlib_block(block).encode("utf-8"), block
        return self._arrow_bytes(block, include_header=False), block

    def _guarded(self, table: pa.Table) -> pa.Table:
        """Prefix formula-like text with ' (see the module docstring), column by column."""
        if not self.settings["formula_guard"]:
            return table
        for index, field in enumerate(table.schema):
            if not pa.types.is_string(field.type):
                continue
            text = table.column(index).combine_chunks()
            # The triggers are ASCII, so the first byte decides: cheaper than a regex or six starts_with.
            first = pc.binary_slice(text.cast(pa.binary()), 0, 1)
            risky = pc.fill_null(pc.is_in(first, value_set=_TRIGGER_BYTES), False)
            if pc.any(risky).as_py():
                prefixed = pc.binary_join_element_wise("'", pc.filter(text, risky), "")
                table = table.set_column(index, field, pc.replace_with_mask(text, risky, prefixed))
        return table

    def _arrow_bytes(self, table: pa.Table, include_header: bool) -> pa.Buffer:
        quoting = _ARROW_QUOTING[self.settings["quoting"]]
        options = pacsv.WriteOptions(
            include_header=include_header,
            delimiter=self.settings["delimiter"],
            eol=self._eol,
            quoting_style=quoting,
            quoting_header=quoting,
        )
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, write_options=options)
        return sink.getvalue()  # joined with the other blocks' buffers without a copy of its own

    def _stdlib_block(self, table: pa.Table) -> str:
        """The block as minimally quoted CSV text, written by the csv module from Arrow's own value text."""
        # Cast to string is what Arrow's CSV writer does itself, so both paths write the same values.
        rows = list(zip(*(column.cast(pa.string()).to_pylist() for column in table.columns)))
        return self._stdlib_text(rows, _rows_holding(table, "\r") if "\r" not in self._eol else None)

    def _stdlib_text(self, rows: list, carriage_returns: list[bool] | None = None) -> str:
        text = io.StringIO()
        writer = csv.writer(
            text, delimiter=self.settings["delimiter"], lineterminator=self._eol, quoting=csv.QUOTE_MINIMAL
        )
        if carriage_returns is None:
            writer.writerows(rows)
        else:
            # Python 3.11's csv module quotes a CR only when the line ending holds one: left bare, a
            # reader would end the row there. The (rare) rows holding one are quoted whole instead.
            quote_all = csv.writer(
                text, delimiter=self.settings["delimiter"], lineterminator=self._eol, quoting=csv.QUOTE_ALL
            )
            for values, risky in zip(rows, carriage_returns):
                (quote_all if risky else writer).writerow(values)
        return text.getvalue()

    def _transcoded(self, text: str, table: pa.Table | None, first_row: int) -> bytes:
        try:
            return text.encode(self._codec, self._errors)
        except UnicodeEncodeError as error:
            raise self._unencodable(error.object[error.start], table, first_row) from None

    def _unencodable(self, character: str, table: pa.Table | None, first_row: int) -> ExportRequestError:
        where = "the header" if self.settings["header"] and character in "".join(self._header) else "a value"
        for name in table.column_names if table is not None and where != "the header" else ():
            column = table.column(name)
            if pa.types.is_string(column.type):
                found = pc.index(pc.match_substring(column, character), True).as_py()
                if found >= 0:
                    where = f"row {first_row + found + 1:,}, column {name!r}"
                    break
        return ExportRequestError(
            "format_options.encoding",
            f"{self.settings['encoding']} cannot represent {character!r} (U+{ord(character):04X}) in {where}",
            "utf-8 or utf-16, which hold every character, or encoding_errors 'replace' to write '?' instead",
        )

    def _refuse_unquotable(self, table: pa.Table, first_row: int) -> None:
        """With quoting 'none', fail before writing a value that would need quotes, naming it."""
        structural = f'[\\x{{{ord(self.settings["delimiter"]):X}}}"\\r\\n]'
        for name in table.column_names:
            column = table.column(name)
            if not pa.types.is_string(column.type):
                continue
            found = pc.index(pc.match_substring_regex(column, structural), True).as_py()
            if found >= 0:
                raise ExportRequestError(
                    "format_options.quoting",
                    f"'none' cannot write row {first_row + found + 1:,}, column {name!r}: "
                    "it holds the delimiter, a quote or a line break",
                    "needed, all or minimal",
                )


def _rows_holding(table: pa.Table, character: str) -> list[bool] | None:
    """Which rows hold ``character`` in a text value; None when none does."""
    found = None
    for column in table.columns:
        if pa.types.is_string(column.type):
            holds = pc.fill_null(pc.match_substring(column, character), False)
            found = holds if found is None else pc.or_(found, holds)
    return found.to_pylist() if found is not None and pc.any(found).as_py() else None


def _header(settings: dict, columns) -> list[str]:
    by_label = settings["header_style"] == "label"
    return [c.label if by_label else c.name for c in columns]

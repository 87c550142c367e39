"""The Renderer interface and the format registry.

A format is one module in this package that subclasses ``Renderer`` with a ``name``; importing
the package's modules registers it, so adding a format touches nothing else. A renderer receives
the export's Arrow tables one chunk at a time and writes them to a binary stream as they come:
it never sees the whole data set, so memory stays flat however many rows there are.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, ClassVar

import pyarrow as pa

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.styles import NO_RULES, DisplayLayer, DisplayRules
from export_pipelines.errors import ExportRequestError

_FORMATS: dict[str, type[Renderer]] = {}


@dataclass(frozen=True)
class RenderContext:
    """What a renderer needs besides the rows: the output columns, its options, the title."""

    columns: tuple[ColumnSpec, ...]
    options: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    timezone: str = "UTC"
    export_id: str = ""
    filters: tuple[str, ...] = ()
    user: str = ""
    display: DisplayRules = NO_RULES  # checked display rules: labels, number and date formats, highlights

    def labelled(self) -> tuple[ColumnSpec, ...]:
        """The columns with the labels the display rules give them (the catalog's where none does)."""
        return tuple(replace(c, label=self.display.label(c.name, c.label)) for c in self.columns)


class Renderer(ABC):
    """Writes chunks of an export to ``stream`` in one format."""

    name: ClassVar[str]
    extension: ClassVar[str]
    media_type: ClassVar[str]
    # Option name -> (default, description). Unknown options are refused by name.
    options: ClassVar[dict[str, tuple[Any, str]]] = {}
    # True for ChunkEncodingRenderer subclasses (see there).
    encodes_chunks: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "name", None):
            _FORMATS[cls.name] = cls

    def __init__(self, stream: BinaryIO | None, context: RenderContext):
        self.stream = stream
        self.context = context
        self.settings = self.check_options(context.options)

    @classmethod
    def check_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Merge ``given`` over the defaults; refuse unknown names and invalid values by field name."""
        unknown = sorted(set(given) - set(cls.options))
        if unknown:
            allowed = ", ".join(sorted(cls.options)) or "none"
            raise ExportRequestError(f"format_options.{unknown[0]}", f"not an option of format {cls.name!r}", allowed)
        settings = {name: default for name, (default, _) in cls.options.items()}
        settings.update(given)
        cls.validate_settings(settings)
        return settings

    @classmethod
    def validate_settings(cls, settings: dict[str, Any]) -> None:
        """Check option values; raise ExportRequestError naming ``format_options.<name>``."""

    @classmethod
    def check_requester(cls, given: dict[str, Any], user: str) -> None:
        """Check options only some users may choose (a PDF template of a user or a team), before they are read."""

    @classmethod
    def check_columns(cls, settings: dict[str, Any], columns: tuple[ColumnSpec, ...]) -> None:
        """Check settings that depend on the output columns (``check_options`` never sees them).

        Called by validation once the columns are known, so a mismatch fails before a row is read.
        """

    @classmethod
    def display_layer(cls, settings: dict[str, Any]) -> DisplayLayer | None:
        """Display rules the format's options bring (a PDF template's), between the catalog's and the request's."""
        return None

    @abstractmethod
    def write(self, table: pa.Table) -> None:
        """Append one chunk of rows."""

    def close(self) -> None:
        """Write whatever ends the file (closing brackets, footers). The stream stays open."""


# A staged chunk is appended to the file in reads of this many bytes where its format allows.
STAGED_READ_BYTES = 1 << 20


class ChunkEncodingRenderer(Renderer):
    """A format whose chunks encode independently of each other (CSV, JSON, JSON Lines).

    An export then encodes each chunk where its rows are read, while the database works on the
    next one (collect_chunks), and rendering only joins the bytes. ``write`` is the two steps in one.
    """

    encodes_chunks: ClassVar[bool] = True
    # Whether write_encoded of a chunk's bytes in pieces, one after the other, writes what it writes for them whole.
    APPENDS_IN_PIECES: ClassVar[bool] = False

    def __init__(self, stream: BinaryIO | None, context: RenderContext):
        super().__init__(stream, context)
        self._rows_written = 0

    def write(self, table: pa.Table) -> None:
        self.write_encoded(self.encode_chunk(table, self._rows_written))
        self._rows_written += table.num_rows

    @abstractmethod
    def encode_chunk(self, table: pa.Table, first_row: int) -> bytes:
        """The bytes ``write`` appends for ``table``, ``first_row`` rows into the export.

        Uses no stream and no state, so it runs on a renderer made with ``stream=None``, on any
        worker, in any order.
        """

    @abstractmethod
    def write_encoded(self, data: bytes) -> None:
        """Append one chunk's bytes from ``encode_chunk``; chunks come in export order."""

    def write_encoded_from(self, source: BinaryIO) -> None:
        """Append one staged chunk's bytes, read from ``source``: in blocks where the format joins a chunk's
        bytes as they are (``APPENDS_IN_PIECES``), so a chunk is never whole in memory; else in one piece."""
        if not self.APPENDS_IN_PIECES:
            self.write_encoded(source.read())
            return
        while data := source.read(STAGED_READ_BYTES):
            self.write_encoded(data)

    def server_text(self) -> ServerText | None:
        """How a PostgreSQL server can write ``encode_chunk``'s bytes itself; None where it cannot
        write the same bytes with these settings (the rows are then encoded here)."""
        return None


@dataclass(frozen=True)
class ServerText:
    """A chunk's bytes as a PostgreSQL ``COPY ... (FORMAT csv)`` writes them, exactly as ``encode_chunk`` would.

    ``values`` turns the output's columns (SQLAlchemy columns by name) into the COPY's columns, one
    expression each; COPY joins them with ``delimiter``, quotes the ``force_quote`` positions (None:
    every column) and anything holding the delimiter, ``quote`` or a line break, writes NULL as
    nothing and ends each row with ``\n``. ``timezone`` is the session's while the COPY runs.
    """

    values: Callable[[Mapping[str, Any]], list]
    timezone: str
    delimiter: str = ","
    quote: str = '"'
    force_quote: tuple[int, ...] | None = ()


def require_choice(settings: dict[str, Any], name: str, choices: tuple) -> None:
    """Refuse an option value that is not one of ``choices``."""
    if settings[name] not in choices:
        raise ExportRequestError(
            f"format_options.{name}", f"{settings[name]!r} is not valid", ", ".join(map(str, choices))
        )


def registered_formats() -> dict[str, type[Renderer]]:
    """Every format by name; importing this package's modules registers them."""
    for module in _package_modules():
        importlib.import_module(f"{__package__}.{module}")
    return dict(_FORMATS)


def renderer_class(name: str) -> type[Renderer]:
    """The renderer of format ``name``.

    A format lives in the module of its name, so only that module is imported: a CSV export does
    not pay for importing reportlab and XlsxWriter (half a second before a row is read). Every
    module is imported only to list the formats in the error for an unknown name.
    """
    if name not in _FORMATS and name in _package_modules():
        importlib.import_module(f"{__package__}.{name}")
    if name in _FORMATS:
        return _FORMATS[name]
    formats = registered_formats()
    try:
        return formats[name]
    except KeyError:
        raise ExportRequestError("format", f"unknown format {name!r}", ", ".join(sorted(formats))) from None


def _package_modules() -> list[str]:
    import export_pipelines.formats as package

    return [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_") and m.name != "base"]

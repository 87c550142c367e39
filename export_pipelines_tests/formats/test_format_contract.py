"""Contract of every registered format: chunked writes, empty exports, option checks, compression.

Parametrized over ``registered_formats()``, so a new format module is tested here as soon as it
exists. What a format writes is checked by parsing it back with an independent reader in the
per-format test modules; here, what every format must do whatever it writes.
"""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from export_pipelines.errors import ExportRequestError
from export_pipelines.formats import RenderContext, registered_formats, renderer_class
from export_pipelines.formats import base as formats_base
from export_pipelines_tests.formats.samples import COLUMNS, ROWS, chunks, render, render_stored, shaped_table

FORMATS = sorted(registered_formats())
# Formats that print when they were rendered (the PDF's "generated at" line) cannot repeat their bytes;
# they are held to the byte-level properties through a reader in their own tests. Every other format,
# new ones included, must give the same bytes for the same rows however they are chunked.
STAMPED_WITH_RENDER_TIME = {"pdf"}
BYTE_STABLE = [name for name in FORMATS if name not in STAMPED_WITH_RENDER_TIME]


def test_the_text_formats_are_registered():
    assert {"csv", "json", "jsonl"} <= set(FORMATS)


@pytest.fixture(params=FORMATS)
def format_name(request) -> str:
    return request.param


@pytest.fixture(params=BYTE_STABLE)
def stable_format(request) -> str:
    return request.param


def test_renderer_class_describes_itself(format_name):
    cls = renderer_class(format_name)

    assert cls.name == format_name
    assert cls.extension and not cls.extension.startswith(".")
    assert "/" in cls.media_type
    assert (cls.__doc__ or "").strip(), "every renderer needs a docstring"
    assert cls.check_options({}) == {name: default for name, (default, _) in cls.options.items()}
    for name, (_, description) in cls.options.items():
        assert description.strip(), f"option {name} needs a description: users see it"


def test_two_chunks_render_a_file_that_holds_every_row(tmp_path, format_name):
    output = render(tmp_path, format_name, chunks(2))

    assert output
    # Text formats must carry the non-ASCII values as UTF-8 (binary formats are checked by their own tests).
    if renderer_class(format_name).media_type.startswith(("text/", "application/json", "application/x-ndjson")):
        text = output.decode("utf-8")
        for needle in ("Zoë Ångström 李小龙 🚀", "Smith, Jones & Co.", "1234.50", "9999999.99"):
            assert needle in text, f"{format_name} lost {needle!r}"


def test_chunk_boundaries_do_not_show_in_the_file(tmp_path, stable_format):
    in_one = render(tmp_path, stable_format, chunks())
    in_two = render(tmp_path, stable_format, chunks(2))
    # A zero-row chunk in the middle (a filtered-out page) must not change the file either.
    one_row_each = chunks(1, 2, 3)
    with_empty = one_row_each[:2] + [shaped_table([])] + one_row_each[2:]

    assert in_two == in_one
    assert render(tmp_path, stable_format, with_empty) == in_one


def test_the_same_rows_give_the_same_bytes(tmp_path, stable_format):
    first, stored = render_stored(tmp_path, stable_format, chunks(2))
    second = render(tmp_path, stable_format, chunks(2))

    assert first == second, "checksums of two exports of the same rows must compare equal"
    assert stored.sha256 == hashlib.sha256(first).hexdigest() and stored.bytes == len(first)


def test_an_empty_export_is_still_a_file(tmp_path, format_name):
    closed_only, stored = render_stored(tmp_path, format_name, [])
    # collect_chunks always stages one chunk, so an export with no rows renders one empty table.
    empty_chunk = render(tmp_path, format_name, [shaped_table([])])

    assert stored.bytes == len(closed_only) and closed_only != render(tmp_path, format_name, chunks())
    if format_name in BYTE_STABLE:
        assert empty_chunk == closed_only
    else:
        assert closed_only[:4] == empty_chunk[:4] and len(closed_only) > 0


def test_unknown_option_is_refused_by_name(format_name):
    cls = renderer_class(format_name)

    with pytest.raises(ExportRequestError) as refused:
        cls.check_options({"no_such_option": True})
    with pytest.raises(ExportRequestError) as refused_at_construction:
        cls(None, RenderContext(COLUMNS, {"no_such_option": True}))

    for error in (refused.value, refused_at_construction.value):
        assert error.field == "format_options.no_such_option"
        assert str(error).startswith("format_options.no_such_option:")
        for option in cls.options:
            assert option in str(error), "the refusal lists the options that exist"


@pytest.mark.parametrize("tables", [chunks(2), []], ids=["rows", "empty"])
def test_gzip_round_trips(tmp_path, format_name, tables):
    plain = render(tmp_path, format_name, tables)
    packed, stored = render_stored(tmp_path, format_name, tables, compression="gzip")

    assert packed[:2] == b"\x1f\x8b", "a gzip member"
    assert stored.sha256 == hashlib.sha256(packed).hexdigest() and stored.bytes == len(packed)
    unpacked = gzip.decompress(packed)
    if format_name in BYTE_STABLE:
        assert unpacked == plain
        assert render(tmp_path, format_name, tables, compression="gzip") == packed, "gzip adds no timestamp"
    else:
        assert unpacked[:16] == plain[:16] and len(unpacked) > 16


def test_sample_rows_cover_the_hard_cases():
    """The checks above mean little unless the sample holds every awkward value."""
    notes = [row["note"] for row in ROWS]
    assert None in notes and "" in notes and any("\r\n" in (n or "") for n in notes)
    assert any(row["discount_rate"] is None for row in ROWS) and any(row["shipped_on"] is None for row in ROWS)
    assert {str(row["amount"]) for row in ROWS} >= {"1234.50", "0.00"}
    assert {row["is_paid"] for row in ROWS} == {True, False}
    names = "".join(row["customer_name"] for row in ROWS)
    assert all(c in names for c in ',"\në李🚀')


class _Staged(io.BytesIO):
    """A staged chunk that records the size of every read render_file makes of it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)


@pytest.mark.parametrize("format_name", [name for name in FORMATS if renderer_class(name).encodes_chunks])
def test_a_staged_chunk_is_appended_in_blocks_where_the_format_allows_with_the_same_bytes(monkeypatch, format_name):
    """render_file appends a staged chunk in reads of STAGED_READ_BYTES where the format joins chunks as they
    are: memory holds a block, not a chunk, however large the chunk. The file is the same either way."""
    monkeypatch.setattr(formats_base, "STAGED_READ_BYTES", 7)
    cls, context = renderer_class(format_name), RenderContext(COLUMNS, {}, "Orders", "Europe/Berlin")
    encoded = [cls(None, context).encode_chunk(table, 0) for table in chunks(2)]
    whole, in_blocks = io.BytesIO(), io.BytesIO()
    renderer, streamed = cls(whole, context), cls(in_blocks, context)
    staged = []
    for data in encoded:
        renderer.write_encoded(data)
        staged.append(_Staged(data))
        streamed.write_encoded_from(staged[-1])
    renderer.close()
    streamed.close()

    assert in_blocks.getvalue() == whole.getvalue()
    reads = [size for chunk in staged for size in chunk.reads]
    assert reads == ([7] * len(reads) if cls.APPENDS_IN_PIECES else [-1] * len(encoded))
    assert renderer_class("csv").APPENDS_IN_PIECES and renderer_class("jsonl").APPENDS_IN_PIECES

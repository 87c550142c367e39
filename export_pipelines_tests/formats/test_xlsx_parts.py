"""The pieces of the Excel writer on their own: row XML against XlsxWriter's, CRC combining, the zip it writes."""

from __future__ import annotations

import io
import os
import random
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from datetime import date
from decimal import Decimal

import pytest
import xlsxwriter

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.formats import zip_members
from export_pipelines.formats.xlsx_cells import SPACE_CLASS, CellStyles, SheetRows
from export_pipelines.formats.zip_members import FINAL_BLOCK, ZipWriter, crc32_combine, deflate_part
from export_pipelines_tests.formats.samples import shaped_table

COLUMNS = (
    ColumnSpec("id", "integer", "ID"),
    ColumnSpec("text", "string", "Text"),
    ColumnSpec("ratio", "float", "Ratio"),
    ColumnSpec("price", "decimal", "Price", precision=12, scale=2),
    ColumnSpec("flag", "boolean", "Flag"),
    ColumnSpec("day", "date", "Day"),
)
STYLES = CellStyles((1, None, None, 2, None, 3), 4)
ALPHABET = "ab =+-@&<>\"'_x0041_\t\n\r\x00\x01\x0b\x1f\x7f\x85\xa0\u2028\u3000\ufeff\ufffe\uffffé李🚀"


def random_rows(count: int, rng: random.Random) -> list[dict]:
    rows = []
    for n in range(count):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))
        bits = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        ratio = rng.choice([bits, rng.random() * 10 ** rng.randrange(-8, 18), float(rng.randrange(10**17)), None])
        rows.append({
            "id": rng.choice([rng.randrange(-(10**14), 10**14), None]), "text": rng.choice([text, text, "", None]),
            "ratio": ratio if ratio is None or ratio == ratio and abs(ratio) != float("inf") else None,
            "price": rng.choice([Decimal(rng.randrange(-(10**11), 10**11)) / 100, None]),
            "flag": rng.choice([True, False, None]), "day": rng.choice([date(2024, 1, 1 + n % 28), None]),
        })  # fmt: skip
    return rows


def xlsxwriter_rows(rows: list[dict], folder) -> bytes:
    """The same cells through XlsxWriter's constant-memory writer: its <row> elements, byte for byte."""
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"constant_memory": True, "tmpdir": str(folder)})
    formats = {i: book.add_format({"num_format": code}) for i, code in ((1, "0"), (2, "#,##0.00"), (3, "yyyy-mm-dd"))}
    guard = book.add_format({"quote_prefix": True})
    assert [f._get_xf_index() for f in (*formats.values(), guard)] == [1, 2, 3, 4]
    sheet = book.add_worksheet()
    for number, row in enumerate(rows, start=1):
        if row["id"] is not None:
            sheet.write_number(number, 0, row["id"], formats[1])
        if row["text"] is not None:
            sheet.write_string(number, 1, row["text"], guard if row["text"][:1] in set("=+-@") else None)
        if row["ratio"] is not None:
            sheet.write_number(number, 2, row["ratio"])
        if row["price"] is not None:
            sheet.write_number(number, 3, float(row["price"]), formats[2])
        if row["flag"] is not None:
            sheet.write_boolean(number, 4, row["flag"])
        if row["day"] is not None:
            sheet.write_number(number, 5, (row["day"] - date(1899, 12, 30)).days, formats[3])
    book.close()
    with zipfile.ZipFile(output) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    return re.search(rb"<sheetData>(.*)</sheetData>", xml, re.S).group(1)


def read_numbers(rows: bytes) -> bytes:
    """Each number as a reader takes it (a float where the text has a point or an exponent, else an integer).

    Numbers may be spelled differently (1e+20 for 1E+20); readers must see the same value and type.
    """

    def value(match: re.Match) -> bytes:
        text = match.group(1).decode()
        return b"<v>%r</v>" % (float(text) if re.search("[.eE]", text) else int(text))

    return re.sub(rb"<v>([^<]*)</v>", value, rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rows_are_the_text_xlsxwriter_writes_for_the_same_cells(seed, tmp_path):
    rows = random_rows(2_000, random.Random(seed))
    table = shaped_table(rows, COLUMNS)

    made = b"".join(bytes(SheetRows(COLUMNS, STYLES).encode(table.slice(s, 700), s + 2)) for s in range(0, 2_000, 700))

    made, expected = read_numbers(made), read_numbers(xlsxwriter_rows(rows, tmp_path))
    assert made.count(b"<row ") == expected.count(b"<row ") == sum(any(v is not None for v in r.values()) for r in rows)
    for mine, theirs in zip(made.split(b"</row>"), expected.split(b"</row>")):
        assert mine == theirs


def test_the_white_space_class_holds_everything_pythons_does():
    found = re.compile(SPACE_CLASS.replace(r"\x{", r"\u").replace("}", "").replace(r"\u85", r"\x85").replace(
        r"\uA0", r"\xa0"))  # fmt: skip
    for code in range(0x110000):
        if re.match(r"\s", chr(code)):
            assert found.match(chr(code)), hex(code)


def test_crc_of_parts_combines_to_the_crc_of_the_whole():
    rng = random.Random(7)
    for _ in range(50):
        first, second = os.urandom(rng.randrange(0, 3000)), os.urandom(rng.randrange(0, 3000))
        assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)


@pytest.mark.parametrize("zip64_from", [zip_members.ZIP64_FROM, 1])
def test_deflated_parts_make_one_member_any_zip_reader_opens(monkeypatch, zip64_from):
    monkeypatch.setattr(zip_members, "ZIP64_FROM", zip64_from)  # 1: every size and offset in zip64 records
    pieces = [os.urandom(5000), b"<row/>" * 20_000, b"", b"tail"]
    parts = [deflate_part(piece) for piece in pieces]
    crc, size = 0, 0
    for _, part_crc, part_size in parts:
        crc, size = crc32_combine(crc, part_crc, part_size), size + part_size
    output = io.BytesIO()
    archive = ZipWriter(output)
    archive.add("small.xml", b"<a/>")
    archive.add_deflated("big.xml", [p[0] for p in parts] + [FINAL_BLOCK], crc, size)
    archive.close()

    with zipfile.ZipFile(io.BytesIO(output.getvalue())) as found:
        assert found.testzip() is None
        assert found.read("big.xml") == b"".join(pieces) and found.read("small.xml") == b"<a/>"


# ---- date format options ------------------------------------------------------------------------


def test_the_known_date_formats_are_date_formats_to_openpyxl():
    from openpyxl.styles.numbers import is_date_format

    from export_pipelines.formats.xlsx import XlsxRenderer
    from export_pipelines.formats.xlsx_layout import KNOWN_DATE_FORMATS

    assert {XlsxRenderer.options[name][0] for name in ("date_format", "timestamp_format")} <= KNOWN_DATE_FORMATS
    assert all(is_date_format(value) for value in KNOWN_DATE_FORMATS)


def test_default_options_are_checked_without_importing_openpyxl():
    code = (
        "import sys\n"
        "from export_pipelines.formats import renderer_class\n"
        "renderer_class('xlsx').check_options({})\n"
        "print('openpyxl' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

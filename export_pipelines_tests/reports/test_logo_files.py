"""An uploaded logo is judged by its bytes: the PNG or JPEG headers, its size, its dimensions, never its name."""

from __future__ import annotations

import struct
import zlib

import pytest

from export_pipelines.reports.logo_files import MAX_LOGO_BYTES, LogoRefused, logo_extension


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (greyscale, 8 bits), made by hand so no imaging library is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def jpeg(width: int, height: int) -> bytes:
    """The start of a JPEG: SOI, an APP0 (JFIF) segment, then a baseline frame header with the dimensions."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + frame + b"\xff\xd9"


def test_a_png_and_a_jpeg_are_accepted_by_their_bytes():
    assert logo_extension(png(40, 20)) == "png"
    assert logo_extension(jpeg(300, 100)) == "jpg"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello, I'm text named logo.png", "not a PNG or JPEG"),
        (b"GIF89a" + b"\0" * 20, "not a PNG or JPEG"),
        (png() + b"\0" * MAX_LOGO_BYTES, "at most 512 KiB"),
        (png(4001, 10), "4001x10 pixels"),
        (jpeg(10, 0), "10x0 pixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "damaged"),
        (b"\xff\xd8\xff\xda" + b"\0" * 10, "damaged"),  # image data before any frame header
    ],
)
def test_anything_else_is_refused_saying_why(data, words):
    with pytest.raises(LogoRefused, match=words):
        logo_extension(data)

"""An uploaded logo, judged by its bytes: a PNG or a JPEG of sane size, whatever its file name says.

A template's logo is a PNG or JPEG file in the template's folder (``template_fields``), drawn top right on
page one. An upload is checked before it is stored: at most ``MAX_LOGO_BYTES``, the PNG signature and its
IHDR header or the JPEG start marker and a frame header, and dimensions from 1 to ``MAX_LOGO_PIXELS`` a side,
read from those headers without decoding the image (a decompression bomb is refused by its header). The
template check then reads it with reportlab as every logo is read.
"""

from __future__ import annotations

import struct

MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_PIXELS = 4000
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
# JPEG start-of-frame markers (C0-CF) carry the dimensions; C4 (huffman), C8 (reserved), CC (arithmetic) do not.
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class LogoRefused(ValueError):
    """Not a logo this service stores; the message says what is allowed."""


def logo_extension(data: bytes) -> str:
    """``png`` or ``jpg`` for an acceptable logo; raise LogoRefused saying what is wrong."""
    if len(data) > MAX_LOGO_BYTES:
        raise LogoRefused(f"the logo is {len(data) / 1024:,.0f} KiB; at most {MAX_LOGO_BYTES // 1024} KiB is allowed")
    if data.startswith(_PNG):
        extension, size = "png", _png_size(data)
    elif data.startswith(_JPEG):
        extension, size = "jpg", _jpeg_size(data)
    else:
        raise LogoRefused("the file is not a PNG or JPEG image (its content is checked, not its name)")
    if size is None:
        raise LogoRefused(f"the {extension.upper()} file is damaged: its header cannot be read")
    width, height = size
    if not (1 <= width <= MAX_LOGO_PIXELS and 1 <= height <= MAX_LOGO_PIXELS):
        raise LogoRefused(f"the logo is {width}x{height} pixels; allowed: 1 to {MAX_LOGO_PIXELS} pixels a side")
    return extension


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill bytes before a marker
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _FRAMES:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header: not a JPEG we can size
            return None
        position += 2 + length
    return None

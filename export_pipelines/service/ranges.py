"""Which bytes a download asks for: one range, or the whole file.

The ``Range`` header is parsed by Starlette's own parser (the one its FileResponse uses): suffix
ranges, open ends, clamping to the size and the unsatisfiable case as RFC 9110 says. Our file is not
on disk, so FileResponse itself cannot serve it; what differs from it is only policy:

- one range is served as 206; several ranges get the whole file as 200 (a multipart body would be
  decrypted piece by piece for clients, download managers, that all handle a 200);
- a malformed header is ignored (200), as RFC 9110 allows, rather than answered with 400;
- ``If-Range`` is honoured with the strong ETag (the file's sha256) only; a date never matches,
  since a file never changes under its key but a date comparison could be fooled by clock skew.
"""

from __future__ import annotations

from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable


class Unsatisfiable(Exception):
    """No byte of the file is in the requested range: 416 with ``Content-Range: bytes */size``."""

    def __init__(self, size: int):
        super().__init__(f"the requested range is outside the file's {size:,} bytes")
        self.size = size


def requested_range(range_header: str | None, if_range: str | None, size: int, etag: str) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) to serve as 206, or None for the whole file as 200."""
    if not range_header:
        return None
    if if_range is not None and if_range.strip() != etag:
        return None
    try:
        ranges = FileResponse._parse_range_header(range_header, size)
    except MalformedRangeHeader:
        return None
    except RangeNotSatisfiable:
        raise Unsatisfiable(size) from None
    return ranges[0] if len(ranges) == 1 else None


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"

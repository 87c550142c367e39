"""Optional compression around a renderer's output stream; it streams like the formats do."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

SUFFIXES = {"none": "", "gzip": ".gz"}


@contextmanager
def compressed(stream: BinaryIO, compression: str) -> Iterator[BinaryIO]:
    """Yield a stream that compresses into ``stream``; closing it leaves ``stream`` open."""
    if compression == "none":
        yield stream
        return
    # mtime=0: the same rows give the same bytes, so checksums compare across runs.
    with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=6, mtime=0) as archive:
        yield archive

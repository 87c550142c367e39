"""A zip archive written to a stream that cannot seek, with members deflated in parts on several threads.

Why parts: one big member (an Excel sheet) deflated by one thread is the slowest step once its text is
made in bulk. Each part is raw deflate ended by a sync flush (byte-aligned, not final), so parts made
independently concatenate into one valid deflate stream (as pigz does); the member ends with a final
empty block. zlib releases the GIL while it compresses, so the parts really run side by side. Each
part's CRC-32 is computed on its own and the member's is combined from them (``crc32_combine``, zlib's
algorithm), so a part's text never waits for the one before it.

Sizes and CRCs are known before a member's header is written (the compressed parts wait in a spool
file), so headers carry them and no data descriptors are needed; zip64 records appear only where a
size or offset needs them.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

# zlib level 2: as fast as level 1 on sheet XML, files about 18% larger than at the default level 6
# (XlsxWriter's), which takes three times the CPU (benchmarks/README.md has the figures).
LEVEL = 2
FINAL_BLOCK = b"\x03\x00"  # an empty, final, fixed-Huffman deflate block
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01: fixed, so the same rows give the same bytes
ZIP32_MAX = 0xFFFFFFFF  # the marker of a value given in the zip64 extra field
ZIP64_FROM = ZIP32_MAX  # sizes and offsets from here on need zip64 records
MAX_PENDING = 4  # parts queued per worker: bounds memory, keeps the workers busy


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, index = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


def crc32_combine(first: int, second: int, second_length: int) -> int:
    """The CRC-32 of A+B from CRC(A), CRC(B) and len(B): zlib's crc32_combine (zero-operator squaring)."""
    if second_length <= 0:
        return first
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two
    odd = _gf2_square(even)  # four
    while True:
        even = _gf2_square(odd)
        if second_length & 1:
            first = _gf2_times(even, first)
        second_length >>= 1
        if not second_length:
            break
        odd = _gf2_square(even)
        if second_length & 1:
            first = _gf2_times(odd, first)
        second_length >>= 1
        if not second_length:
            break
    return first ^ second


def deflate_part(data) -> tuple[bytes, int, int]:
    """One part: raw deflate ending on a byte boundary, its CRC-32 and its length."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH), zlib.crc32(data), len(data)


@dataclass
class Span:
    """Deflated parts of one member, in order, somewhere in the spool."""

    start: int = 0
    end: int = 0
    crc: int = 0
    size: int = 0

    def add(self, compressed: bytes, crc: int, size: int) -> None:
        self.crc = crc32_combine(self.crc, crc, size)
        self.size += size
        self.end += len(compressed)


class DeflatingSpool:
    """Deflates parts on worker threads and keeps them, in order, in a temporary file until the member is written.

    ``submit`` takes a function that makes a part's bytes, so the making runs on the worker too.
    """

    def __init__(self, spool: BinaryIO, workers: int | None = None):
        self._spool = spool
        self._pool = ThreadPoolExecutor(max_workers=workers or min(os.cpu_count() or 1, 8))
        self._pending: deque = deque()
        self._limit = MAX_PENDING * self._pool._max_workers
        self.span: Span | None = None

    def begin(self) -> Span:
        self.drain()
        position = self._spool.tell()
        self.span = Span(start=position, end=position)
        return self.span

    def submit(self, make, *args) -> None:
        self._pending.append((self.span, self._pool.submit(_made_and_deflated, make, args)))
        while len(self._pending) > self._limit:
            self._take_one()

    def drain(self) -> None:
        while self._pending:
            self._take_one()

    def _take_one(self) -> None:
        span, future = self._pending.popleft()
        compressed, crc, size = future.result()
        self._spool.write(compressed)
        span.add(compressed, crc, size)

    def copy(self, span: Span, output: BinaryIO) -> None:
        self._spool.seek(span.start)
        remaining = span.end - span.start
        while remaining:
            block = self._spool.read(min(remaining, 1 << 20))
            output.write(block)
            remaining -= len(block)
        self._spool.seek(0, os.SEEK_END)

    def close(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)
        self._spool.close()


def _made_and_deflated(make, args) -> tuple[bytes, int, int]:
    return deflate_part(make(*args))


class ZipWriter:
    """Members written one after another, each as its deflated bytes with CRC and sizes known; then the directory."""

    def __init__(self, output: BinaryIO):
        self._output = output
        self._offset = 0
        self._entries: list[tuple[bytes, int, int, int, int]] = []

    def _write(self, data: bytes) -> None:
        self._output.write(data)
        self._offset += len(data)

    def add(self, name: str, data: bytes) -> None:
        """A small member, deflated here."""
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        compressed = compressor.compress(data) + compressor.flush()
        self.add_deflated(name, [compressed], zlib.crc32(data), len(data))

    def add_deflated(self, name: str, pieces, crc: int, size: int, compressed_size: int | None = None) -> None:
        """A member from already deflated ``pieces`` (bytes, or callables writing to a stream and returning nothing)."""
        pieces = list(pieces)
        if compressed_size is None:
            compressed_size = sum(len(piece) for piece in pieces)
        encoded = name.encode()
        big = size >= ZIP64_FROM or compressed_size >= ZIP64_FROM
        extra = struct.pack("<HHQQ", 1, 16, size, compressed_size) if big else b""
        sizes = (ZIP32_MAX, ZIP32_MAX) if big else (compressed_size, size)
        self._entries.append((encoded, crc, compressed_size, size, self._offset))
        header = struct.pack("<IHHHHHIII", 0x04034B50, 45 if big else 20, 0, 8, 0, DOS_DATE, crc, *sizes)
        self._write(header + struct.pack("<HH", len(encoded), len(extra)) + encoded + extra)
        for piece in pieces:
            if callable(piece):
                piece(self._output)
            else:
                self._output.write(piece)
        self._offset += compressed_size

    def close(self) -> None:
        """The central directory, with zip64 records where sizes, offsets or the member count need them."""
        start = self._offset
        for name, crc, compressed_size, size, offset in self._entries:
            big = max(size, compressed_size, offset) >= ZIP64_FROM
            wide = [size, compressed_size, offset]  # all three in zip64 whenever one needs it
            extra = struct.pack("<HH", 1, 8 * len(wide)) + struct.pack(f"<{len(wide)}Q", *wide) if big else b""
            values = (ZIP32_MAX, ZIP32_MAX, ZIP32_MAX) if big else (compressed_size, size, offset)
            self._write(
                struct.pack("<IHHHHHHIII", 0x02014B50, 45 if big else 20, 45 if big else 20, 0, 8, 0, DOS_DATE, crc,
                            values[0], values[1])
                + struct.pack("<HHHHHII", len(name), len(extra), 0, 0, 0, 0, values[2]) + name + extra
            )  # fmt: skip
        length, count = self._offset - start, len(self._entries)
        if max(start, length, *(max(e[2], e[3], e[4]) for e in self._entries), 0) >= ZIP64_FROM or count >= 0xFFFF:
            end64 = self._offset
            self._write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, length, start))
            self._write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
            count, length, start = min(count, 0xFFFF), min(length, ZIP32_MAX), min(start, ZIP32_MAX)
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, length, start, 0))

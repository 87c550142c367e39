"""Decrypting as a stream, from the start: a file object that hands out one authenticated segment at a time."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from export_pipelines.security.streaming_aead.key import (
    MAX_SEGMENTS,
    TAG_SIZE,
    DecryptionError,
    StreamingKey,
    segment_nonce,
)


class DecryptingReader(io.RawIOBase):
    """Decrypts a Tink streaming ciphertext read sequentially from ``source``.

    Like Tink, each key in ``keys`` is tried on the header and first segment and the one that
    authenticates is kept (``key``). A segment's plaintext is handed out only after its tag checked; any
    failure (tampering, truncation, trailing bytes, wrong key or associated data) raises DecryptionError,
    and so does every later read. Holds one ciphertext and one plaintext segment; ``close()`` leaves
    ``source`` open.
    """

    def __init__(self, source: BinaryIO, keys: Sequence[StreamingKey], associated_data: bytes):
        super().__init__()
        if not keys:
            raise ValueError("DecryptingReader needs at least one key")
        self._source = source
        self._keys = tuple(keys)
        self._associated_data = associated_data
        self.key: StreamingKey | None = None
        self._cipher: AESGCM | None = None
        self._prefix = b""
        # One byte beyond the longest segment: whether more follows is what says a segment is the last.
        self._ciphertext = memoryview(bytearray(max(k.segment_size for k in self._keys) + 1))
        self._have = 0  # bytes of self._ciphertext filled
        self._plaintext = memoryview(bytearray(max(k.segment_size for k in self._keys)))
        self._start = self._end = 0  # unread plaintext is self._plaintext[_start:_end]
        self._index = 0
        self._done = False
        self._failure: DecryptionError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        target = memoryview(b).cast("B")
        if not self._fill():
            return 0
        count = min(len(target), self._end - self._start)
        target[:count] = self._plaintext[self._start : self._start + count]
        self._start += count
        return count

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if not self._fill():
            return b""
        count = min(size, self._end - self._start)
        self._start += count
        return bytes(self._plaintext[self._start - count : self._start])

    def readall(self) -> bytes:
        parts = []
        while self._fill():
            parts.append(bytes(self._plaintext[self._start : self._end]))
            self._start = self._end
        return b"".join(parts)

    def _fill(self) -> bool:
        """Make sure unread plaintext is buffered, decrypting the next segment if needed; False at the end."""
        if self._failure is not None:
            raise self._failure
        if self.closed:
            raise ValueError("read from a closed DecryptingReader")
        while self._start == self._end:
            if self._done:
                return False
            try:
                self._next_segment()
            except DecryptionError as failure:
                self._failure = failure
                self._start = self._end = 0
                self._plaintext[:] = bytes(len(self._plaintext))  # no unauthenticated plaintext left behind
                raise
        return True

    def _read_source(self, want: int) -> None:
        """Fill self._ciphertext up to ``want`` bytes, or fewer at the end of the source."""
        readinto = getattr(self._source, "readinto", None)
        while self._have < want:
            if readinto is not None:
                count = readinto(self._ciphertext[self._have : want])
            else:
                chunk = self._source.read(want - self._have)
                count = len(chunk)
                self._ciphertext[self._have : self._have + count] = chunk
            if not count:  # b"" / 0 is the end; None (would block) is not supported either
                return
            self._have += count

    def _next_segment(self) -> None:
        if self.key is None:
            self._read_source(len(self._ciphertext))
            self._first_segment()
            return
        key = self.key
        self._read_source(key.segment_size + 1)
        last = self._have <= key.segment_size
        size = self._have if last else key.segment_size
        self._decrypt(self._ciphertext[:size], last)
        self._consume(size)

    def _first_segment(self) -> None:
        for key in self._keys:
            header, last = key.header_size(), self._have <= key.segment_size
            end = self._have if last else key.segment_size
            if self._have < header or self._ciphertext[0] != header:
                continue
            try:
                self._cipher, self._prefix = key.file_cipher(self._ciphertext[:header], self._associated_data)
                self._decrypt(self._ciphertext[header:end], last)
            except DecryptionError:
                continue
            self.key = key
            self._consume(end)
            return
        raise DecryptionError(
            "no key in the keyset decrypts this file: wrong keyset or associated data, or the start of the file"
            " is damaged or missing"
        )

    def _decrypt(self, segment: memoryview, last: bool) -> None:
        if len(segment) < TAG_SIZE:
            raise DecryptionError(f"segment {self._index} is shorter than its tag: the file is truncated or extended")
        if self._index >= MAX_SEGMENTS:
            raise DecryptionError("the file has more segments than the format allows")
        try:
            nonce = segment_nonce(self._prefix, self._index, last)
            self._cipher.decrypt_into(nonce, segment, None, self._plaintext[: len(segment) - TAG_SIZE])
        except InvalidTag:
            raise DecryptionError(
                f"segment {self._index} does not authenticate: the file was modified, truncated or extended"
            ) from None
        self._start, self._end = 0, len(segment) - TAG_SIZE
        self._index += 1
        self._done = last

    def _consume(self, size: int) -> None:
        """Drop the first ``size`` ciphertext bytes, keeping the look-ahead beyond them."""
        rest = self._have - size
        self._ciphertext[:rest] = self._ciphertext[size : self._have]
        self._have = rest

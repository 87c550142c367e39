"""Encrypting as a stream: a file object that turns what is written to it into Tink's segments."""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from export_pipelines.security.streaming_aead.key import (
    MAX_SEGMENTS,
    NONCE_PREFIX_SIZE,
    TAG_SIZE,
    StreamingKey,
    segment_nonce,
)


class EncryptingWriter(io.RawIOBase):
    """Encrypts what is written to it into ``sink``, one segment at a time, in Tink's format.

    Holds at most one plaintext and one ciphertext segment. A segment is encrypted only once more data
    (or ``close()``) shows whether it is the last. ``close()`` writes the last segment, even for an empty
    plaintext, and leaves ``sink`` open; leaving a ``with`` block by an exception, ``abandon()`` or garbage
    collection do not, so a failed export never looks complete. ``sink.write`` receives views of a reused
    buffer, which the ``io`` contract allows: a sink must not keep them after it returns.
    """

    def __init__(self, sink: BinaryIO, key: StreamingKey, associated_data: bytes):
        super().__init__()
        self._sink = sink
        self._key = key
        salt, self._prefix = os.urandom(key.derived_key_size), os.urandom(NONCE_PREFIX_SIZE)
        header = bytes([key.header_size()]) + salt + self._prefix
        self._cipher, _ = key.file_cipher(header, associated_data)
        self._plain = bytearray(key.segment_size - TAG_SIZE)
        self._plain_view = memoryview(self._plain)
        self._out_view = memoryview(bytearray(key.segment_size))
        self._filled = 0
        self._index = 0
        self.bytes_written = 0
        self._write_out(header)

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        data = memoryview(b).cast("B")
        size, at = len(data), 0
        while at < size:
            capacity = self._key.plaintext_capacity(self._index)
            if self._filled == capacity:  # more data follows a full buffer: it was not the last segment
                self._encrypt(self._plain_view[: self._filled], last=False)
                self._filled = 0
            elif self._filled == 0 and size - at > capacity:  # a whole segment with more after it: no copy
                self._encrypt(data[at : at + capacity], last=False)
                at += capacity
            else:
                take = min(capacity - self._filled, size - at)
                self._plain_view[self._filled : self._filled + take] = data[at : at + take]
                self._filled += take
                at += take
        return size

    def close(self) -> None:
        if not self.closed:
            try:
                self._encrypt(self._plain_view[: self._filled], last=True)
                self._filled = 0
            finally:
                super().close()

    def abandon(self) -> None:
        """Close without the last segment: what was written so far can never decrypt as a whole file."""
        self._filled = 0
        super().close()

    def __exit__(self, exc_type, exc, traceback) -> None:
        # A failed producer must not leave a valid-looking ciphertext of a partial plaintext.
        if exc_type is None:
            self.close()
        else:
            self.abandon()

    def __del__(self) -> None:
        # io's finalizer would call close() and so finish a file its owner gave up on.
        if not self.closed:
            self.abandon()

    def _encrypt(self, plaintext: memoryview, last: bool) -> None:
        if self._index >= MAX_SEGMENTS:
            raise ValueError("plaintext too long for this segment size (2**32 segments)")
        out = self._out_view[: len(plaintext) + TAG_SIZE]
        self._cipher.encrypt_into(segment_nonce(self._prefix, self._index, last), plaintext, None, out)
        self._index += 1
        self._write_out(out)

    def _write_out(self, data: bytes | memoryview) -> None:
        view, written = memoryview(data), 0
        while written < len(view):  # a raw sink may take less than offered
            count = self._sink.write(view[written:])
            # None: a hand-written file-like that took everything (non-blocking sinks are not supported)
            written += len(view) - written if count is None else count
        self.bytes_written += written

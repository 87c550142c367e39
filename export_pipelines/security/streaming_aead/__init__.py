"""Tink's AES-GCM-HKDF streaming AEAD format, written and read with random access.

Stored files must stay readable by Tink itself, so this is Tink's published format, not our own:

    ciphertext = header || segment_0 || segment_1 || ... || segment_n
    header     = byte(header_size) || salt (derived_key_size bytes) || nonce_prefix (7 bytes)
    file key   = HKDF(hkdf_hash, ikm=key_value, salt=salt, info=associated_data, length=derived_key_size)
    segment_i  = AES-GCM(file key, nonce_prefix || uint32_be(i) || byte(i == n), plaintext_i), tag 16 bytes

Every segment but the last is ``segment_size`` bytes of ciphertext; segment_0 is shorter by the header,
so segment boundaries sit at multiples of ``segment_size`` in the file (Tink's ciphertext offset is 0).
The last-segment byte in the nonce is what makes truncation at a segment boundary detectable.

Tink's Python binding decrypts only from the start; HTTP Range downloads need :func:`decrypt_range`,
which is why the format is implemented here on ``cryptography`` and tested against ``tink`` both ways.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from export_pipelines.errors import PermanentExportError

TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
MAX_SEGMENTS = 1 << 32  # the segment number is a uint32 in the nonce
HKDF_HASHES = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA512": hashes.SHA512}
# decrypt_range reads contiguous segments in batches of about this many bytes: few round trips to
# storage, bounded memory.
RANGE_BATCH_BYTES = 4 << 20


class DecryptionError(PermanentExportError):
    """The ciphertext does not authenticate: tampered, truncated, extended, or the wrong key or associated data.

    Messages say which of those checks failed and where, never key material or plaintext.
    """


@dataclass(frozen=True)
class StreamingKey:
    """One AES-GCM-HKDF streaming key: the key-derivation key and the parameters Tink stores with it.

    ``key_id`` is the Tink keyset's id for the key: record it with each file so that decryption can pick
    the key directly (``Keyset.key(key_id)``) instead of trying each one.
    """

    key_id: int
    key_value: bytes = field(repr=False)
    derived_key_size: int
    hkdf_hash: str
    segment_size: int

    def __post_init__(self) -> None:
        # Tink's own limits (AesGcmHkdfStreaming's constructor), so a key we accept Tink accepts too.
        if self.derived_key_size not in (16, 32):
            raise ValueError(f"key {self.key_id}: derived_key_size must be 16 or 32, not {self.derived_key_size}")
        if len(self.key_value) < max(16, self.derived_key_size):
            raise ValueError(f"key {self.key_id}: key value shorter than the derived key size")
        if self.hkdf_hash not in HKDF_HASHES:
            raise ValueError(f"key {self.key_id}: hkdf_hash must be one of {sorted(HKDF_HASHES)}")
        if self.segment_size <= self.header_size() + TAG_SIZE:
            raise ValueError(f"key {self.key_id}: segment_size {self.segment_size} is too small")

    def header_size(self) -> int:
        return 1 + self.derived_key_size + NONCE_PREFIX_SIZE

    def ciphertext_size(self, plaintext_size: int) -> int:
        """The size Tink's encrypter produces for ``plaintext_size`` bytes (a full last segment stays last)."""
        if plaintext_size < 0:
            raise ValueError("plaintext_size must not be negative")
        full, rest = divmod(plaintext_size + self.header_size(), self.segment_size - TAG_SIZE)
        return full * self.segment_size + (rest + TAG_SIZE if rest else 0)

    def plaintext_size(self, ciphertext_size: int) -> int:
        """The plaintext size a ``ciphertext_size``-byte file holds; DecryptionError if no ciphertext has that size."""
        segments = self._segment_count(ciphertext_size)
        return ciphertext_size - self.header_size() - segments * TAG_SIZE

    def _segment_count(self, ciphertext_size: int) -> int:
        full, rest = divmod(ciphertext_size, self.segment_size)
        segments = full + (1 if rest else 0)
        if (rest and rest < TAG_SIZE) or ciphertext_size < self.header_size() + TAG_SIZE or segments > MAX_SEGMENTS:
            raise DecryptionError(f"no ciphertext of this key's format is {ciphertext_size} bytes long (truncated?)")
        return segments

    def _plaintext_segment(self, index: int) -> int:
        """Plaintext capacity of segment ``index`` when it is not the last one."""
        return self.segment_size - TAG_SIZE - (self.header_size() if index == 0 else 0)

    def _file_cipher(self, header: bytes | memoryview, associated_data: bytes) -> tuple[AESGCM, bytes]:
        """The AES-GCM cipher and nonce prefix of one file, derived from its header."""
        size = self.header_size()
        if len(header) != size or header[0] != size:
            raise DecryptionError("the ciphertext header is malformed (not this key's format, or damaged)")
        salt = bytes(header[1 : 1 + self.derived_key_size])
        hkdf = HKDF(HKDF_HASHES[self.hkdf_hash](), self.derived_key_size, salt=salt, info=associated_data)
        return AESGCM(hkdf.derive(self.key_value)), bytes(header[1 + self.derived_key_size :])


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


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
        self._cipher, _ = key._file_cipher(header, associated_data)
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
            capacity = self._key._plaintext_segment(self._index)
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
        self._cipher.encrypt_into(_nonce(self._prefix, self._index, last), plaintext, None, out)
        self._index += 1
        self._write_out(out)

    def _write_out(self, data: bytes | memoryview) -> None:
        view, written = memoryview(data), 0
        while written < len(view):  # a raw sink may take less than offered
            count = self._sink.write(view[written:])
            # None: a hand-written file-like that took everything (non-blocking sinks are not supported)
            written += len(view) - written if count is None else count
        self.bytes_written += written


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
                self._cipher, self._prefix = key._file_cipher(self._ciphertext[:header], self._associated_data)
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
            self._cipher.decrypt_into(
                _nonce(self._prefix, self._index, last), segment, None, self._plaintext[: len(segment) - TAG_SIZE]
            )
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


def identify_key(
    read_at: Callable[[int, int], bytes],
    ciphertext_size: int,
    keys: Sequence[StreamingKey],
    associated_data: bytes,
) -> StreamingKey:
    """The key in ``keys`` whose derivation authenticates the file's first segment; DecryptionError if none.

    For files stored without their key id. Reads the header and first segment once per distinct
    segment size.
    """
    reads: dict[int, bytes] = {}
    for key in keys:
        try:
            last = key._segment_count(ciphertext_size) == 1
        except DecryptionError:
            continue
        length = min(key.segment_size, ciphertext_size)
        if length not in reads:
            reads[length] = _read_exactly(read_at, 0, length)
        first = memoryview(reads[length])
        try:
            cipher, prefix = key._file_cipher(first[: key.header_size()], associated_data)
            cipher.decrypt(_nonce(prefix, 0, last), first[key.header_size() :], None)
        except (DecryptionError, InvalidTag):
            continue
        return key
    raise DecryptionError("no key in the keyset decrypts this file: wrong keyset or associated data, or damaged")


def decrypt_range(
    read_at: Callable[[int, int], bytes],
    ciphertext_size: int,
    key: StreamingKey,
    associated_data: bytes,
    start: int,
    end: int,
) -> Iterator[bytes]:
    """Plaintext bytes [start, end) of a ``ciphertext_size``-byte file, reading only the segments that cover them.

    ``end`` is clamped to the plaintext size. ``read_at(offset, length)`` is called for the header and for
    runs of covering segments of about RANGE_BATCH_BYTES each; every segment authenticates (the file's
    final one as the last) before any of its bytes is yielded. Segment numbers are in the nonces, so bytes
    can not be moved within or between files unnoticed. A range that stops short of the final segment
    does not prove the file is not truncated after it; a range that reaches the end does.
    """
    if start < 0 or end < 0:
        raise ValueError(f"range [{start}, {end}) must not be negative")
    segments = key._segment_count(ciphertext_size)
    end = min(end, key.plaintext_size(ciphertext_size))
    if start >= end:
        return
    header, plain, size = key.header_size(), key.segment_size - TAG_SIZE, key.segment_size
    first, last = (start + header) // plain, (end - 1 + header) // plain
    cipher = prefix = None
    if first > 0:
        cipher, prefix = key._file_cipher(_read_exactly(read_at, 0, header), associated_data)
    per_read = max(1, RANGE_BATCH_BYTES // size)
    for batch_first in range(first, last + 1, per_read):
        batch_last = min(batch_first + per_read, last + 1) - 1
        offset, stop = batch_first * size, min((batch_last + 1) * size, ciphertext_size)
        data = memoryview(_read_exactly(read_at, offset, stop - offset))
        if cipher is None:  # the batch starts at the file's start: header and segment 0 in one read
            cipher, prefix = key._file_cipher(data[:header], associated_data)
        for index in range(batch_first, batch_last + 1):
            segment = data[max(index * size, header) - offset : min((index + 1) * size, ciphertext_size) - offset]
            try:
                plaintext = cipher.decrypt(_nonce(prefix, index, index == segments - 1), segment, None)
            except InvalidTag:
                raise DecryptionError(
                    f"segment {index} does not authenticate: the file was modified or truncated, or the key or"
                    " associated data is wrong"
                ) from None
            # plaintext position of this segment's first byte
            base = 0 if index == 0 else index * plain - header
            low, high = max(start - base, 0), min(end - base, len(plaintext))
            yield plaintext if (low, high) == (0, len(plaintext)) else plaintext[low:high]


def _read_exactly(read_at: Callable[[int, int], bytes], offset: int, length: int) -> bytes:
    data = read_at(offset, length)
    if len(data) != length:
        raise DecryptionError(
            f"read {len(data)} bytes at offset {offset} where {length} were expected: the file is shorter than"
            " its recorded size"
        )
    return data

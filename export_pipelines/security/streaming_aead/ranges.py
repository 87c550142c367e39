"""Random access, which Tink's Python binding lacks: which key a stored file needs, and any byte range of it.

Both work on ``read_at(offset, length)``, so a storage backend serves them with ranged reads and an HTTP
Range download decrypts only the segments that cover it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from cryptography.exceptions import InvalidTag

from export_pipelines.security.streaming_aead.key import TAG_SIZE, DecryptionError, StreamingKey, segment_nonce

# decrypt_range reads contiguous segments in batches of about this many bytes: few round trips to
# storage, bounded memory.
RANGE_BATCH_BYTES = 4 << 20


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
            last = key.segment_count(ciphertext_size) == 1
        except DecryptionError:
            continue
        length = min(key.segment_size, ciphertext_size)
        if length not in reads:
            reads[length] = _read_exactly(read_at, 0, length)
        first = memoryview(reads[length])
        try:
            cipher, prefix = key.file_cipher(first[: key.header_size()], associated_data)
            cipher.decrypt(segment_nonce(prefix, 0, last), first[key.header_size() :], None)
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
    segments = key.segment_count(ciphertext_size)
    end = min(end, key.plaintext_size(ciphertext_size))
    if start >= end:
        return
    header, plain, size = key.header_size(), key.segment_size - TAG_SIZE, key.segment_size
    first, last = (start + header) // plain, (end - 1 + header) // plain
    cipher = prefix = None
    if first > 0:
        cipher, prefix = key.file_cipher(_read_exactly(read_at, 0, header), associated_data)
    per_read = max(1, RANGE_BATCH_BYTES // size)
    for batch_first in range(first, last + 1, per_read):
        batch_last = min(batch_first + per_read, last + 1) - 1
        offset, stop = batch_first * size, min((batch_last + 1) * size, ciphertext_size)
        data = memoryview(_read_exactly(read_at, offset, stop - offset))
        if cipher is None:  # the batch starts at the file's start: header and segment 0 in one read
            cipher, prefix = key.file_cipher(data[:header], associated_data)
        for index in range(batch_first, batch_last + 1):
            segment = data[max(index * size, header) - offset : min((index + 1) * size, ciphertext_size) - offset]
            try:
                plaintext = cipher.decrypt(segment_nonce(prefix, index, index == segments - 1), segment, None)
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

"""Our AES-GCM-HKDF streaming code against Tink's own: both directions, every range, every tampering."""

from __future__ import annotations

import io
import os

import pytest
from tink import json_proto_keyset_format, secret_key_access, streaming_aead

from export_pipelines.security.keyset import Keyset
from export_pipelines.security.streaming_aead import (
    DecryptingReader,
    DecryptionError,
    EncryptingWriter,
    StreamingKey,
    decrypt_range,
    identify_key,
    ranges,
)

AD = b"exports/tenant-1/orders.csv"
SEGMENT = 4096
HEADER = 40
FIRST = SEGMENT - 16 - HEADER  # plaintext in segment 0
PLAIN = SEGMENT - 16  # plaintext in every later segment
SIZES = [0, 1, FIRST - 1, FIRST, FIRST + 1, FIRST + PLAIN, FIRST + 3 * PLAIN + 123]

streaming_aead.register()


class KeptBytesIO(io.BytesIO):
    """Tink closes the destination it wrote to; keep what it holds."""

    def close(self) -> None:
        self.kept = self.getvalue()
        super().close()


def small_key(key_id: int = 7, segment_size: int = SEGMENT) -> StreamingKey:
    return StreamingKey(key_id, os.urandom(32), 32, "SHA256", segment_size)


def tink_primitive(key: StreamingKey):
    handle = json_proto_keyset_format.parse(Keyset(key.key_id, (key,)).to_json(), secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


def tink_encrypt(key: StreamingKey, data: bytes, associated_data: bytes = AD) -> bytes:
    sink = KeptBytesIO()
    with tink_primitive(key).new_encrypting_stream(sink, associated_data) as stream:
        stream.write(data)
    return sink.kept


def tink_decrypt(key: StreamingKey, ciphertext: bytes, associated_data: bytes = AD) -> bytes:
    with tink_primitive(key).new_decrypting_stream(io.BytesIO(ciphertext), associated_data) as stream:
        return stream.read()


def our_encrypt(key: StreamingKey, data: bytes, pieces: int = 7, associated_data: bytes = AD) -> bytes:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, key, associated_data)
    step = max(1, len(data) // pieces)
    for at in range(0, len(data), step):
        writer.write(memoryview(data)[at : at + step])
    writer.close()
    assert not sink.closed and writer.bytes_written == len(sink.getvalue())
    return sink.getvalue()


def reader_of(ciphertext: bytes):
    return lambda offset, length: ciphertext[offset : offset + length]


def ranged(key: StreamingKey, ciphertext: bytes, start: int, end: int, associated_data: bytes = AD) -> bytes:
    return b"".join(decrypt_range(reader_of(ciphertext), len(ciphertext), key, associated_data, start, end))


def interesting_ranges(size: int) -> list[tuple[int, int]]:
    points = {0, 1, 5, FIRST - 1, FIRST, FIRST + 1, FIRST + PLAIN - 1, FIRST + PLAIN, FIRST + 2 * PLAIN, size - 1, size}
    points = sorted(p for p in points if 0 <= p <= size)
    pairs = {(a, b) for a in points for b in points if a <= b}
    return sorted(pairs | {(0, size + 100), (size, size + 5)})


@pytest.mark.parametrize("size", SIZES)
def test_tink_ciphertext_decrypts_with_our_reader_and_every_range(size):
    key, data = small_key(), os.urandom(size)
    ciphertext = tink_encrypt(key, data)
    assert len(ciphertext) == key.ciphertext_size(size) and key.plaintext_size(len(ciphertext)) == size
    reader = DecryptingReader(io.BytesIO(ciphertext), [key], AD)
    assert reader.readable() and reader.read() == data and reader.key == key
    pieces, reader = [], DecryptingReader(io.BytesIO(ciphertext), [key], AD)
    while chunk := reader.read(1000):
        pieces.append(chunk)
    assert b"".join(pieces) == data
    buffered = io.BufferedReader(DecryptingReader(io.BytesIO(ciphertext), [key], AD), 777)  # readinto path
    assert buffered.read() == data
    for start, end in interesting_ranges(size):
        assert ranged(key, ciphertext, start, end) == data[start:end], (start, end)


def test_one_mebibyte_segments_from_tink():
    key = Keyset.generate().primary
    assert (key.segment_size, key.derived_key_size, key.hkdf_hash) == (1 << 20, 32, "SHA256")
    data = os.urandom(3 * (1 << 20) + 12345)
    ciphertext = tink_encrypt(key, data)
    assert DecryptingReader(io.BytesIO(ciphertext), [key], AD).read() == data
    boundary = (1 << 20) - 16 - HEADER
    for start, end in [(0, 10), (boundary - 3, boundary + 3), (boundary, 2 * boundary), (len(data) - 1, len(data))]:
        assert ranged(key, ciphertext, start, end) == data[start:end]
    assert tink_decrypt(key, our_encrypt(key, data)) == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("pieces", [1, 3, 1000])
def test_our_ciphertext_decrypts_with_tink(size, pieces):
    key, data = small_key(), os.urandom(size)
    ciphertext = our_encrypt(key, data, pieces)
    assert len(ciphertext) == key.ciphertext_size(size)
    assert tink_decrypt(key, ciphertext) == data


def test_writer_accepts_any_bytes_like_and_exact_segment_writes():
    key, data = small_key(), os.urandom(FIRST + 2 * PLAIN)
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, key, AD)
    writer.write(bytearray(data[:FIRST]))
    writer.write(memoryview(data[FIRST : FIRST + PLAIN]))
    writer.write(memoryview(bytearray(data[FIRST + PLAIN :])).cast("B", shape=[PLAIN // 8, 8]))
    writer.close()
    writer.close()  # idempotent
    assert tink_decrypt(key, sink.getvalue()) == data
    with pytest.raises(ValueError):
        writer.write(b"late")


def test_sizes_no_ciphertext_can_have_are_refused():
    key = small_key()
    for size in [0, HEADER, HEADER + 15, SEGMENT + 1, SEGMENT + 15, 2 * SEGMENT + 7]:
        with pytest.raises(DecryptionError):
            key.plaintext_size(size)
    assert key.plaintext_size(SEGMENT + 16) == FIRST


def tampered_cases(ciphertext: bytes) -> dict[str, bytes]:
    flip = lambda at: ciphertext[:at] + bytes([ciphertext[at] ^ 1]) + ciphertext[at + 1 :]  # noqa: E731
    segments = [ciphertext[i : i + SEGMENT] for i in range(0, len(ciphertext), SEGMENT)]
    return {
        "header length byte": flip(0),
        "salt": flip(3),
        "nonce prefix": flip(HEADER - 1),
        "segment 0 body": flip(HEADER + 10),
        "segment 0 tag": flip(SEGMENT - 1),
        "segment 1 body": flip(SEGMENT + 100),
        "segment 2 tag": flip(3 * SEGMENT - 1),
        "last segment tag": flip(len(ciphertext) - 1),
        "truncated mid-segment": ciphertext[:-50],
        "truncated at a segment boundary": ciphertext[: 3 * SEGMENT],
        "truncated inside the last tag": ciphertext[:-5],
        "one trailing byte": ciphertext + b"\0",
        "a trailing tag's worth": ciphertext + bytes(16),
        "a trailing segment": ciphertext + bytes(SEGMENT),
        "segments 1 and 2 swapped": b"".join([segments[0], segments[2], segments[1], *segments[3:]]),
        "segment 1 dropped": b"".join([segments[0], *segments[2:]]),
    }


@pytest.fixture(scope="module")
def sample():
    key, data = small_key(), os.urandom(FIRST + 3 * PLAIN + 123)
    return key, data, our_encrypt(key, data)


@pytest.mark.parametrize("case", list(tampered_cases(bytes(FIRST + 4 * SEGMENT))))
def test_tampering_is_refused_and_no_plaintext_of_a_failing_segment_escapes(sample, case):
    key, data, ciphertext = sample
    bad = tampered_cases(ciphertext)[case]
    received = bytearray()
    reader = DecryptingReader(io.BytesIO(bad), [key], AD)
    with pytest.raises(DecryptionError):
        while chunk := reader.read(100):
            received += chunk
    # What came out is a prefix of the plaintext ending on a segment boundary: whole authenticated segments.
    assert data.startswith(received) and (len(received) == 0 or (len(received) - FIRST) % PLAIN == 0)
    with pytest.raises(DecryptionError):
        reader.read(1)  # stays failed
    chunks = []
    with pytest.raises(DecryptionError):
        for chunk in decrypt_range(reader_of(bad), len(bad), key, AD, 0, len(data)):
            chunks.append(chunk)
    assert data.startswith(b"".join(chunks))


def test_wrong_associated_data_or_key_is_refused(sample):
    key, data, ciphertext = sample
    for keys, associated_data in [([key], b"other"), ([small_key()], AD)]:
        with pytest.raises(DecryptionError, match="no key"):
            DecryptingReader(io.BytesIO(ciphertext), keys, associated_data).read()
        with pytest.raises(DecryptionError):
            ranged(keys[0], ciphertext, 0, 10, associated_data)
        with pytest.raises(DecryptionError):
            identify_key(reader_of(ciphertext), len(ciphertext), keys, associated_data)


def test_reader_and_identify_key_pick_the_key_that_authenticates(sample):
    key, data, ciphertext = sample
    others = [small_key(1), small_key(2, segment_size=8192)]
    reader = DecryptingReader(io.BytesIO(ciphertext), [*others, key], AD)
    assert reader.key is None and reader.read() == data and reader.key is key
    assert identify_key(reader_of(ciphertext), len(ciphertext), [*others, key], AD) is key


def test_errors_and_reprs_carry_no_key_material(sample):
    key, data, ciphertext = sample
    assert key.key_value.hex() not in repr(key) and repr(key.key_value) not in repr(key)
    with pytest.raises(DecryptionError) as raised:
        DecryptingReader(io.BytesIO(ciphertext), [key], b"other").read()
    assert key.key_value.hex() not in str(raised.value) and data[:8].hex() not in str(raised.value)


def test_decrypt_range_reads_only_the_covering_segments(sample, monkeypatch):
    key, data, ciphertext = sample
    calls = []

    def read_at(offset, length):
        calls.append((offset, length))
        return ciphertext[offset : offset + length]

    start = FIRST + PLAIN + 10  # inside segment 2
    assert b"".join(decrypt_range(read_at, len(ciphertext), key, AD, start, start + 20)) == data[start : start + 20]
    assert calls == [(0, HEADER), (2 * SEGMENT, SEGMENT)]
    calls.clear()
    assert b"".join(decrypt_range(read_at, len(ciphertext), key, AD, 3, 9)) == data[3:9]
    assert calls == [(0, SEGMENT)]  # header and segment 0 in one read
    calls.clear()
    assert list(decrypt_range(read_at, len(ciphertext), key, AD, 50, 50)) == [] and calls == []
    monkeypatch.setattr(ranges, "RANGE_BATCH_BYTES", 2 * SEGMENT)
    assert b"".join(decrypt_range(read_at, len(ciphertext), key, AD, FIRST, len(data))) == data[FIRST:]
    assert calls == [(0, HEADER), (SEGMENT, 2 * SEGMENT), (3 * SEGMENT, len(ciphertext) - 3 * SEGMENT)]


def test_decrypt_range_refuses_a_short_read_and_negative_ranges(sample):
    key, data, ciphertext = sample
    with pytest.raises(DecryptionError, match="shorter"):
        list(decrypt_range(lambda o, n: ciphertext[o : o + n - 1], len(ciphertext), key, AD, 0, 10))
    with pytest.raises(ValueError):
        list(decrypt_range(reader_of(ciphertext), len(ciphertext), key, AD, -1, 10))


def test_a_failed_or_abandoned_write_never_ends_as_a_valid_file():
    key, data = small_key(), os.urandom(FIRST + PLAIN + 10)
    sink = io.BytesIO()
    with pytest.raises(RuntimeError):
        with EncryptingWriter(sink, key, AD) as writer:
            writer.write(data)
            raise RuntimeError("the source failed")
    assert writer.closed
    dropped = io.BytesIO()
    EncryptingWriter(dropped, key, AD).write(data)  # garbage collected without close()
    for ciphertext in (sink.getvalue(), dropped.getvalue()):
        with pytest.raises(DecryptionError):
            DecryptingReader(io.BytesIO(ciphertext), [key], AD).read()
    finished = io.BytesIO()
    with EncryptingWriter(finished, key, AD) as writer:
        writer.write(data)
    assert DecryptingReader(io.BytesIO(finished.getvalue()), [key], AD).read() == data

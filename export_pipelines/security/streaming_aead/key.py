"""One streaming key and what follows from it: sizes, the file header, the file's cipher, segment nonces.

The layout these compute is described in the package docstring; the writer, the reader and the
random-access functions share them so that all three agree on every byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from export_pipelines.errors import PermanentExportError

TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
MAX_SEGMENTS = 1 << 32  # the segment number is a uint32 in the nonce
HKDF_HASHES = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA512": hashes.SHA512}


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
        segments = self.segment_count(ciphertext_size)
        return ciphertext_size - self.header_size() - segments * TAG_SIZE

    def segment_count(self, ciphertext_size: int) -> int:
        """How many segments a ``ciphertext_size``-byte file has; DecryptionError if no file has that size."""
        full, rest = divmod(ciphertext_size, self.segment_size)
        segments = full + (1 if rest else 0)
        if (rest and rest < TAG_SIZE) or ciphertext_size < self.header_size() + TAG_SIZE or segments > MAX_SEGMENTS:
            raise DecryptionError(f"no ciphertext of this key's format is {ciphertext_size} bytes long (truncated?)")
        return segments

    def plaintext_capacity(self, index: int) -> int:
        """Plaintext capacity of segment ``index`` when it is not the last one."""
        return self.segment_size - TAG_SIZE - (self.header_size() if index == 0 else 0)

    def file_cipher(self, header: bytes | memoryview, associated_data: bytes) -> tuple[AESGCM, bytes]:
        """The AES-GCM cipher and nonce prefix of one file, derived from its header."""
        size = self.header_size()
        if len(header) != size or header[0] != size:
            raise DecryptionError("the ciphertext header is malformed (not this key's format, or damaged)")
        salt = bytes(header[1 : 1 + self.derived_key_size])
        hkdf = HKDF(HKDF_HASHES[self.hkdf_hash](), self.derived_key_size, salt=salt, info=associated_data)
        return AESGCM(hkdf.derive(self.key_value)), bytes(header[1 + self.derived_key_size :])


def segment_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    """Segment ``index``'s nonce: the file's prefix, the segment number, and whether it is the file's last."""
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

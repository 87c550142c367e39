"""Encryption at rest around any backend: every byte an export stores is ciphertext.

``EncryptedStorage`` wraps a backend (local folder, S3...) and encrypts on the way in and
decrypts on the way out with Tink's streaming AEAD format (AES-GCM-HKDF, 1 MiB segments; see
``security.streaming_aead``). The backend only ever sees ciphertext, so a stolen disk or bucket
reveals nothing; sizes, names and times stay visible.

Associated data binds each ciphertext to the key it is stored under, so a file copied or moved to
another key does not decrypt. The one deliberate exception is the rendered export: it is written in
staging *bound to its final key* (``bound_to``), so that publishing it is a rename or a server-side
copy of ciphertext, never a decrypt-and-encrypt pass.

Sizes and checksums reported by writes are those of the plaintext: they are what a user verifies
after downloading.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import BinaryIO

from export_pipelines.security.keyset import Keyset
from export_pipelines.security.streaming_aead import (
    DecryptingReader,
    DecryptionError,
    EncryptingWriter,
    StreamingKey,
    decrypt_range,
    identify_key,
)
from export_pipelines.storage.base import AtomicWrite, FileAttributes, ListedFile, Storage

# Recorded with published files (object metadata, run metadata): which key of the keyset protects them.
KEY_ID_ATTRIBUTE = "key-id"
_AD_PREFIX = b"export_pipelines/v1:"


def associated_data(key: str) -> bytes:
    """What a ciphertext is bound to: its storage key (which names the run it belongs to)."""
    return _AD_PREFIX + key.encode()


class EncryptedStorage(Storage):
    """Any backend, with every stored byte encrypted under the keyset's primary key."""

    def __init__(self, inner: Storage, keyset: Keyset):
        self.inner = inner
        self.keyset = keyset

    @classmethod
    def from_url(cls, url: str) -> EncryptedStorage:
        raise TypeError("EncryptedStorage wraps a backend: EncryptedStorage(storage_from_url(url), keyset)")

    @contextmanager
    def open_write(self, key: str, checksum: bool = True, bound_to: str | None = None) -> Iterator[AtomicWrite]:
        """Write plaintext; ciphertext reaches the backend. ``bound_to``: the key it will be published under."""
        protecting = self.keyset.primary
        with self.inner.open_write(key, checksum=False) as sealed:
            encrypting = EncryptingWriter(sealed.stream, protecting, associated_data(bound_to or key))
            writer = AtomicWrite(key, encrypting, checksum)
            yield writer
            plaintext = writer.finish()
            encrypting.close()
        writer.result = replace(plaintext, key_id=protecting.key_id)

    def open_read(self, key: str, bound_to: str | None = None) -> BinaryIO:
        """A stream of the plaintext, each 1 MiB segment authenticated before any of its bytes is returned.

        Buffered, so ``read(n)`` returns n bytes unless the file ends first, across segment
        boundaries: readers such as Arrow's IPC reader take a short read for a truncated file.
        """
        source = self.inner.open_read(key)
        try:
            reader = DecryptingReader(source, self._candidates(), associated_data(bound_to or key))
        except BaseException:
            source.close()
            raise
        return io.BufferedReader(_ClosingReader(reader, source), buffer_size=1 << 20)

    def key_for(self, key: str) -> StreamingKey:
        """The keyset key that protects ``key``: from its recorded attribute, else by authenticating its header."""
        return identify_key(
            lambda offset, length: self.inner.read_range(key, offset, length),
            self.inner.size(key),
            self._candidates(key),
            associated_data(key),
        )

    def open_range(self, key: str, start: int, end: int, key_id: int | None = None) -> Iterator[bytes]:
        """Plaintext bytes ``[start, end)``, decrypting only the segments that cover them.

        ``key_id``, when the caller knows it (run history records it), names the key without a look
        at the file; a wrong or removed one fails authentication like any other wrong key.
        """
        protecting = next((k for k in self.keyset.keys if k.key_id == key_id), None) or self.key_for(key)
        return decrypt_range(
            lambda offset, length: self.inner.read_range(key, offset, length),
            self.inner.size(key),
            protecting,
            associated_data(key),
            start,
            end,
        )

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return b"".join(self.open_range(key, start, start + length))

    def size(self, key: str) -> int:
        """The plaintext size, computed from the ciphertext size (every key uses the same segment layout)."""
        return self.keyset.primary.plaintext_size(self.inner.size(key))

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[ListedFile]:
        """The stored files, with their stored (ciphertext) sizes."""
        return self.inner.list(prefix)

    def delete_prefix(self, prefix: str) -> int:
        return self.inner.delete_prefix(prefix)

    def location(self, key: str) -> str:
        return self.inner.location(key)

    def attributes(self, key: str) -> dict[str, str]:
        return self.inner.attributes(key)

    def move(self, source_key: str, target_key: str, attributes: FileAttributes | None = None) -> None:
        """Moves ciphertext as it is: the source must have been written ``bound_to=target_key``."""
        self.inner.move(source_key, target_key, attributes)

    def _candidates(self, key: str | None = None) -> tuple[StreamingKey, ...]:
        """Keys to try, as Tink does: the one recorded with a published file first, else the primary first.

        Only published files carry the attribute; staged files were all written under the current
        primary key, so reading them costs no metadata request.
        """
        recorded = self.inner.attributes(key).get(KEY_ID_ATTRIBUTE, "") if key else ""
        first = int(recorded) if recorded.isdigit() else self.keyset.primary.key_id
        return tuple(sorted(self.keyset.keys, key=lambda k: k.key_id != first))


class _ClosingReader(io.RawIOBase):
    """The decrypting reader, closing the backend's stream with it."""

    def __init__(self, reader: DecryptingReader, source: BinaryIO):
        self._reader = reader
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._reader.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        return self._reader.read(size)

    def readall(self) -> bytes:
        # io's default reads 8 KiB at a time: 1,400 calls for one 11 MB chunk that render_file reads whole.
        return self._reader.readall()

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._source.close()
            super().close()


__all__ = ["EncryptedStorage", "DecryptionError", "KEY_ID_ATTRIBUTE", "associated_data"]

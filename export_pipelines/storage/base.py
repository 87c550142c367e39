"""The Storage interface: every byte an export writes (staged chunks and final files) goes through it.

A backend registers itself under a URL scheme, so moving staging and files from a local folder
to an object store is a matter of configuration: ``storage_from_url("s3://bucket/prefix")``.
Writes are atomic (nothing appears at the final key until it is complete) and report the
sha256 and size computed while writing, so no second pass over the file is needed.
"""

from __future__ import annotations

import hashlib
import io
import re
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, ClassVar
from urllib.parse import urlparse

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._@=+-]+(/[A-Za-z0-9._@=+-]+)*$")
_BACKENDS: dict[str, type[Storage]] = {}
# Keys under this prefix live for one run (staged chunks); backends may skip durability for them.
TRANSIENT_PREFIX = "_staging/"


@dataclass(frozen=True)
class StoredFile:
    """What a completed write produced: where it is, how big it is, and its checksum."""

    key: str
    bytes: int
    sha256: str


class HashingWriter(io.RawIOBase):
    """Pass bytes through to ``sink`` while counting them and, unless told not to, feeding sha256."""

    def __init__(self, sink: BinaryIO, checksum: bool = True):
        self._sink = sink
        self._hash = hashlib.sha256() if checksum else None
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self._hash is not None:
            self._hash.update(view)
        self._sink.write(view)
        self.bytes_written += len(view)
        return len(view)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest() if self._hash is not None else ""


class Storage(ABC):
    """A place for files addressed by '/'-separated keys."""

    scheme: ClassVar[str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "scheme", None):
            _BACKENDS[cls.scheme] = cls

    @classmethod
    @abstractmethod
    def from_url(cls, url: str) -> Storage:
        """Build the backend from its URL."""

    @abstractmethod
    def open_write(self, key: str, checksum: bool = True) -> AbstractContextManager[AtomicWrite]:
        """Open ``key`` for writing; the file appears at ``key`` only when the block exits cleanly.

        ``checksum=False`` skips the sha256 (the result's ``sha256`` is then ""): for files whose
        checksum nobody reads, such as staged chunks, where hashing was a tenth of the run's CPU.
        """

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for reading as a binary stream."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix`` (a folder-like key); return how many were deleted."""

    @abstractmethod
    def location(self, key: str) -> str:
        """Where a person or another program finds ``key`` (a path or URL)."""

    def copy(self, source_key: str, target_key: str) -> StoredFile:
        """Stream ``source_key`` to ``target_key`` (atomic at the target), hashing as it goes."""
        with self.open_read(source_key) as source, self.open_write(target_key) as target:
            while block := source.read(1 << 20):
                target.write(block)
        return target.result

    def move(self, source_key: str, target_key: str) -> None:
        """Make ``source_key`` appear at ``target_key`` atomically and remove the source.

        Backends override this with what is cheap for them (a rename, a server-side copy); the
        checksum was computed when the source was written, so nothing is read again.
        """
        self.copy(source_key, target_key)
        self.delete_prefix(source_key)


class AtomicWrite:
    """A buffered, hashing writer whose ``result`` is set once the write is committed."""

    result: StoredFile

    def __init__(self, key: str, sink: BinaryIO, checksum: bool = True):
        self.key = key
        self._hashing = HashingWriter(sink, checksum)
        self.stream = io.BufferedWriter(self._hashing, buffer_size=1 << 20)

    def write(self, data) -> int:
        return self.stream.write(data)

    def finish(self) -> StoredFile:
        """Flush everything through the hash; backends call this before committing."""
        self.stream.flush()
        return StoredFile(self.key, self._hashing.bytes_written, self._hashing.sha256)


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root or confuse object stores."""
    if not isinstance(key, str) or not _SAFE_KEY.match(key) or any(p in (".", "..") for p in key.split("/")):
        raise ValueError(f"storage key {key!r} is not allowed: use letters, digits and ._@=+- separated by '/'")
    return key


def storage_from_url(url: str) -> Storage:
    """Pick the backend by the URL's scheme; a plain path means the local backend."""
    # Importing the backends registers them.
    from export_pipelines.storage import local  # noqa: F401

    scheme = urlparse(url).scheme if "://" in url else "file"
    try:
        backend = _BACKENDS[scheme]
    except KeyError:
        raise ValueError(
            f"storage URL {url!r}: scheme {scheme!r} is not supported (supported: {', '.join(sorted(_BACKENDS))})"
        ) from None
    return backend.from_url(url)

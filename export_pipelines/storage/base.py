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
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import BinaryIO, ClassVar
from urllib.parse import quote, urlparse

# One key segment: letters and digits of any script, space and a few punctuation marks; no
# separators, control characters or backslashes, no space at either end.
_SEGMENT = r"[\w.@=+,()'-](?:[\w .@=+,()'-]*[\w.@=+,()'-])?"
_SAFE_KEY = re.compile(rf"^(?:{_SEGMENT})(?:/(?:{_SEGMENT}))*$")
_BACKENDS: dict[str, type[Storage]] = {}
# Backends are found by URL scheme in this entry-point group: the built-in ones are declared in
# pyproject.toml, and a package of its own can add a scheme without touching this one.
ENTRY_POINT_GROUP = "export_pipelines.storage"
# Keys under this prefix live for one run (staged chunks); backends may skip durability for them.
TRANSIENT_PREFIX = "_staging/"
# Published files and staging live under two different fixed first parts, and no part of a key
# comes from what a requester typed (the user name least of all): they cannot meet by construction.
PUBLISHED_PREFIX = "files/"


@dataclass(frozen=True)
class StoredFile:
    """What a completed write produced: where it is, how big it is, and its checksum."""

    key: str
    bytes: int
    sha256: str
    key_id: int | None = None  # the encryption key that protects it, when encrypted


@dataclass(frozen=True)
class ListedFile:
    """One stored file as a listing shows it."""

    key: str
    bytes: int
    modified: datetime


@dataclass(frozen=True)
class FileAttributes:
    """What a published file carries besides its bytes, where the backend can keep it (object stores).

    ``metadata`` values must be ASCII text (S3 user metadata); keys are lower-case words with dashes.
    """

    content_type: str = "application/octet-stream"
    file_name: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def content_disposition(self) -> str | None:
        """``attachment`` with the file name, for every client (RFC 6266, RFC 5987 for non-ASCII names)."""
        if not self.file_name:
            return None
        fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in self.file_name)
        value = f'attachment; filename="{fallback}"'
        if fallback != self.file_name:
            value += f"; filename*=UTF-8''{quote(self.file_name, safe='')}"
        return value


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

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``start`` (fewer at the end of the file).

        Object stores override this with one ranged GET; random-access decryption reads this way.
        """
        with self.open_read(key) as source:
            source.seek(start)
            return source.read(length)

    @abstractmethod
    def size(self, key: str) -> int:
        """The stored size of ``key`` in bytes; FileNotFoundError when there is none."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ListedFile]:
        """Every complete file under ``prefix`` (a folder-like key; "" for all), in key order.

        Unfinished writes are never listed.
        """

    def attributes(self, key: str) -> dict[str, str]:
        """The metadata stored with ``key`` by ``move(..., attributes)``; {} where the backend keeps none."""
        return {}

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

    def move(self, source_key: str, target_key: str, attributes: FileAttributes | None = None) -> None:
        """Make ``source_key`` appear at ``target_key`` atomically and remove the source.

        Backends override this with what is cheap for them (a rename, a server-side copy); the
        checksum was computed when the source was written, so nothing is read again. ``attributes``
        (content type, file name, metadata) go with the published file where the backend keeps them.
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
    if (
        not isinstance(key, str)
        or len(key.encode()) > 1000
        or not _SAFE_KEY.match(key)
        or any(p in (".", "..") for p in key.split("/"))
    ):
        raise ValueError(
            f"storage key {key!r} is not allowed: use letters, digits, spaces and ._@=+,()'- in parts "
            "separated by '/' (no '.' or '..' parts, at most 1,000 bytes)"
        )
    return key


def storage_schemes() -> dict[str, str]:
    """Every scheme a backend is declared for, with where it lives."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def backend_for(scheme: str) -> type[Storage]:
    """The backend class of ``scheme``, imported on first use (a local export never imports boto3)."""
    if scheme not in _BACKENDS:
        for point in entry_points(group=ENTRY_POINT_GROUP, name=scheme):
            point.load()  # defining the class registers it
    return _BACKENDS[scheme]


def storage_from_url(url: str) -> Storage:
    """Pick the backend by the URL's scheme; a plain path means the local backend."""
    scheme = urlparse(url).scheme if "://" in url else "file"
    try:
        backend = backend_for(scheme)
    except KeyError:
        supported = ", ".join(sorted(storage_schemes()))
        raise ValueError(f"storage URL {url!r}: scheme {scheme!r} is not supported (supported: {supported})") from None
    return backend.from_url(url)

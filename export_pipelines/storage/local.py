"""Local folder storage: the embedded default, and a shared mount for workers on one machine.

Folders are created 0700 and files 0600 whatever the process umask: exports are other people's
data, and on a shared machine the storage root is no place for other accounts to browse.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from export_pipelines.security.private_files import FILE_MODE, make_private_folder
from export_pipelines.storage.base import (
    TRANSIENT_PREFIX,
    AtomicWrite,
    FileAttributes,
    ListedFile,
    Storage,
    check_key,
)

_PART_SUFFIX = ".part"


class LocalStorage(Storage):
    """Files under a root folder; writes go to a temporary name and are renamed into place."""

    scheme = "file"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    @classmethod
    def from_url(cls, url: str) -> LocalStorage:
        if not url.startswith("file://"):
            return cls(url)
        parsed = urlparse(url)
        # file://var/exports parses as host 'var', path '/exports': refuse it rather than write to /exports.
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(
                f"storage URL {url!r}: a file URL needs an absolute path, such as file:///srv/exports "
                "(three slashes); use a plain path for a relative folder"
            )
        return cls(unquote(parsed.path))

    def path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    @contextmanager
    def open_write(self, key: str, checksum: bool = True) -> Iterator[AtomicWrite]:
        final = self.path(key)
        make_private_folder(final.parent)
        # Same folder as the final file, so the rename is atomic; the suffix marks it as unfinished.
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}{_PART_SUFFIX}")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with open(descriptor, "wb") as sink:
                writer = AtomicWrite(key, sink, checksum)
                yield writer
                writer.result = writer.finish()
                sink.flush()
                if not key.startswith(TRANSIENT_PREFIX):  # staging lives for one run: no fsync
                    os.fsync(sink.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)

    def move(self, source_key: str, target_key: str, attributes: FileAttributes | None = None) -> None:
        """A rename; a folder keeps no attributes (the run's metadata holds them)."""
        source, target = self.path(source_key), self.path(target_key)
        make_private_folder(target.parent)
        with open(source, "rb") as handle:  # staged without fsync: make it durable before it is published
            os.fsync(handle.fileno())
        os.replace(source, target)

    def open_read(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ListedFile]:
        folder = self.path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if folder.is_file():
            candidates = [folder]
        elif folder.is_dir():
            candidates = sorted(folder.rglob("*"))
        else:
            return
        for path in candidates:
            if not path.is_file() or (path.name.startswith(".") and path.name.endswith(_PART_SUFFIX)):
                continue
            status = path.stat()
            key = path.relative_to(self.root).as_posix()
            yield ListedFile(key, status.st_size, datetime.fromtimestamp(status.st_mtime, UTC))

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path(prefix.rstrip("/"))
        if folder.is_file():
            folder.unlink()
            return 1
        if not folder.is_dir():
            return 0
        count = sum(1 for item in folder.rglob("*") if item.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def location(self, key: str) -> str:
        return str(self.path(key))

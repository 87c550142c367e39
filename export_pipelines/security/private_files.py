"""Key files on disk: private (0600 in a 0700 folder), written whole or not at all, never raced over.

Both the encryption keyset and the link signing keys are small files that every process of a
deployment reads and that a few commands rewrite; they share these rules, so they share this code.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` and missing parents with mode 0700 exactly (mkdir's mode is narrowed by the umask)."""
    if folder.is_dir():
        return
    make_private_folder(folder.parent)
    try:
        folder.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        return
    os.chmod(folder, FOLDER_MODE)


def write_private(path: Path, text: str, *, new: bool = False) -> bool:
    """Write ``text`` to ``path`` (0600) through a synced temporary file, then rename it into place.

    With ``new`` an existing file is never replaced, even by a writer racing this one: the file is
    linked into place exclusively, and False says another one was there first.
    """
    path = Path(path)
    make_private_folder(path.parent)
    temporary = path.parent / f".{path.name}-{secrets.token_hex(8)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if new:
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_folder(path.parent)
    return True


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

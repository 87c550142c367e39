"""Reading key files: parsed once per file version, and a development file created once when none exists.

The encryption keyset and the link signing keys are read on every run and every request, and rewritten
by a rotation in another process; both must see that rotation without re-parsing (or calling KMS) on
every read, and both create a development file on first use that racing processes must agree on. The
writing rules themselves (0600, 0700, atomic, exclusive) are ``private_files``'.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from export_pipelines.security.private_files import write_private

T = TypeVar("T")


class ParsedKeyFiles(Generic[T]):
    """Key files parsed once per version: path, inode, size and mtime, per process (and per ``variant``).

    ``what`` names the file in errors ("the keyset file ... does not exist"), raised as ``error``.
    """

    def __init__(self, what: str, error: type[Exception]) -> None:
        self._what = what
        self._error = error
        self._entries: dict[tuple[str, Hashable], tuple[tuple[int, int, int], T]] = {}
        self._lock = threading.Lock()

    def load(self, path: Path, parse: Callable[[str], T], variant: Hashable = None) -> T:
        """``parse`` of the text of ``path``, or what it returned for this very version of the file."""
        key = (str(path), variant)
        try:
            status = path.stat()
            stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
            with self._lock:
                cached = self._entries.get(key)
            if cached and cached[0] == stamp:
                return cached[1]
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self._error(f"the {self._what} {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise self._error(f"the {self._what} {path} cannot be read: {reason}") from None
        parsed = parse(text)
        with self._lock:
            self._entries[key] = (stamp, parsed)
        return parsed


def create_once(path: Path, make_text: Callable[[], str]) -> bool:
    """Create ``path`` with ``make_text()`` unless it exists; True only in the one process that created it.

    When processes race, exactly one file wins and all of them use it, so only the winner should warn.
    """
    if path.exists():
        return False
    return write_private(path, make_text(), new=True)

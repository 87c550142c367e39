"""A bounded in-memory pipe: a writer on one thread feeds a reader on another, in constant memory.

Object-store uploads read their source (a file-like object) on a transfer thread, while a renderer
writes the file on the step's thread. The pipe joins the two without ever holding more than
``limit`` bytes: the writer blocks while the reader is behind, and the reader blocks until it has
the whole amount it asked for, because multipart uploads need full-sized parts (a short read would
become a part under S3's 5 MiB minimum). Either side can end it: the writer with EOF (``close``) or
an error the reader then raises (``fail``), the reader by going away (``reader_gone``), after which
a write raises ``PipeClosed`` instead of blocking forever.
"""

from __future__ import annotations

import threading
from collections import deque


class PipeClosed(Exception):
    """The reading side stopped before the writer finished (its own error says why)."""


class PipeAborted(Exception):
    """The writing side failed; the reader raises this so that its upload is abandoned."""


class BoundedPipe:
    """``write`` on one thread, ``read`` on another; at most ``limit`` bytes wait in between."""

    def __init__(self, limit: int):
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._failed = False
        self._reader_gone = False
        self._changed = threading.Condition()

    # ---- writing side -----------------------------------------------------------------------

    def write(self, data) -> int:
        chunk = bytes(data)  # the caller reuses its buffer (BufferedWriter passes a view of it)
        with self._changed:
            while self._buffered >= self._limit and not self._reader_gone:
                self._changed.wait()
            if self._reader_gone:
                raise PipeClosed("the reader stopped before the write finished")
            self._chunks.append(chunk)
            self._buffered += len(chunk)
            self._changed.notify_all()
        return len(chunk)

    def flush(self) -> None:
        """Nothing to flush: everything written is already the reader's."""

    def close(self) -> None:
        """End of data: the reader's next reads return what is left, then b""."""
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def fail(self) -> None:
        """The writer broke: the reader raises ``PipeAborted`` instead of seeing a clean end."""
        with self._changed:
            self._failed = True
            self._chunks.clear()
            self._buffered = 0
            self._changed.notify_all()

    def reader_gone(self) -> None:
        """The reader will read no more: wake a blocked writer so it raises instead of waiting."""
        with self._changed:
            self._reader_gone = True
            self._chunks.clear()
            self._buffered = 0
            self._changed.notify_all()

    # ---- reading side (a file-like object for s3transfer) -----------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int | None = -1) -> bytes:
        """Exactly ``amount`` bytes (all of them when negative), fewer only at the end of data."""
        wanted = float("inf") if amount is None or amount < 0 else amount
        pieces: list[bytes] = []
        gathered = 0
        with self._changed:
            while gathered < wanted:
                if self._failed:
                    raise PipeAborted("the write was abandoned")
                if not self._chunks:
                    if self._eof:
                        break
                    self._changed.wait()
                    continue
                chunk = self._chunks.popleft()
                if gathered + len(chunk) > wanted:
                    keep = int(wanted - gathered)
                    self._chunks.appendleft(chunk[keep:])
                    chunk = chunk[:keep]
                pieces.append(chunk)
                gathered += len(chunk)
                self._buffered -= len(chunk)
                self._changed.notify_all()
        return b"".join(pieces)

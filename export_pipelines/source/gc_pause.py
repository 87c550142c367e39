"""Pausing the cyclic garbage collector while a source streams rows into Python objects.

Every row a driver hands over leaves objects behind (tuples, buffers) that reference counting
frees at once and that are never part of a cycle. A million of them still trigger hundreds of
collections, each walking every object the process holds (Dagster's are many): 10-20% of the
read's CPU. Pauses nest, across threads: collection resumes when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_pauses = 0
_resume = False
_lock = threading.Lock()


@contextmanager
def gc_paused() -> Iterator[None]:
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()

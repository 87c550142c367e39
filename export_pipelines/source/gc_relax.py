"""Fewer cyclic garbage collections while a source streams rows into Python objects.

Every row a driver hands over leaves objects behind (tuples, buffers) that reference counting
frees at once and that are never part of a cycle. A million of them still trigger hundreds of
collections, each walking every object the process holds (Dagster's are many): 10-20% of the
read's CPU. While a source streams, the youngest generation is collected every ``YOUNG_THRESHOLD``
allocations instead of every 700: rarely, but not never. Never (the collector disabled for the
whole read) let the cycles the rest of the process makes meanwhile (Dagster's events, logging)
pile up for as long as a COPY lasts: a 10M-row export's memory climbed by 30 MB over its 15 s
collect step. Relaxations nest, across threads: the usual thresholds come back when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 100_000
_relaxations = 0
_saved: tuple[int, ...] = ()
_lock = threading.Lock()


@contextmanager
def gc_relaxed() -> Iterator[None]:
    global _relaxations, _saved
    with _lock:
        if _relaxations == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), *_saved[1:])
        _relaxations += 1
    try:
        yield
    finally:
        with _lock:
            _relaxations -= 1
            if _relaxations == 0:
                gc.set_threshold(*_saved)

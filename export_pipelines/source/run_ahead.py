"""Run a generator in a background thread, a bounded number of items ahead of its consumer.

Used where one side waits on something else than this process's CPU: reading a COPY waits on
the database server, so parsing the rows already received can go on meanwhile.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_SECONDS = 0.1


def run_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """Yield what ``items`` yields, produced by a thread at most ``depth`` items ahead.

    An exception in the producer is raised here, at the point the consumer reaches it. If the
    consumer stops early, the producer is closed (its ``finally`` blocks run) before this
    generator returns, so nothing is left running behind the caller's back.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(handoff, (item, None), stop):
                    return
            _put(handoff, (_DONE, None), stop)
        except BaseException as error:  # handed to the consumer, which raises it
            _put(handoff, (_DONE, error), stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator stopped early runs its finally blocks here, in its own thread

    producer = threading.Thread(target=produce, name="run-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        producer.join()


def _put(handoff: queue.Queue, entry, stop: threading.Event) -> bool:
    """Hand ``entry`` over unless the consumer has stopped; False when it has."""
    while not stop.is_set():
        try:
            handoff.put(entry, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False

"""run_ahead: items in order, the producer's errors where the consumer meets them, nothing left running."""

from __future__ import annotations

import threading

import pytest

from export_pipelines.source.run_ahead import run_ahead


def test_items_arrive_in_order_from_another_thread():
    producers = set()

    def numbers():
        for number in range(1000):
            producers.add(threading.current_thread().name)
            yield number

    assert list(run_ahead(numbers(), depth=3)) == list(range(1000))
    assert producers == {"run-ahead"}


def test_the_producers_error_is_raised_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise LookupError("the source went away")

    seen = []
    with pytest.raises(LookupError, match="the source went away"):
        for item in run_ahead(failing(), depth=8):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_closes_the_producer_before_returning():
    closed = threading.Event()

    def endless():
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed.set()

    items = run_ahead(endless(), depth=2)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()

    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "run-ahead"]


def test_a_slow_consumer_holds_at_most_depth_items_ahead_however_many_come():
    """What a COPY reader holds ahead of staging is bounded (depth blocks), not the export's size: the producer
    waits for the consumer, and memory stays flat however many rows the export has."""
    produced = []
    ahead = []

    def blocks():
        for number in range(200):
            produced.append(number)
            yield number

    received = []
    for consumed, item in enumerate(run_ahead(blocks(), depth=4), start=1):
        received.append(item)
        if consumed % 20 == 0:
            threading.Event().wait(0.05)  # the consumer is slow: the producer has all the time it wants to run on
            ahead.append(len(produced) - consumed)
    assert received == list(range(200)) and ahead
    # depth items in the queue, plus the one the producer holds while it waits for room.
    assert max(ahead) <= 4 + 1

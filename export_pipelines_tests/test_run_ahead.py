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

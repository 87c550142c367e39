"""gc_relaxed: the young generation is collected rarely, not never, and the usual thresholds come back once the
last overlapping relaxation ends."""

from __future__ import annotations

import gc
import threading

from export_pipelines.source.gc_relax import YOUNG_THRESHOLD, gc_relaxed


def _collections_while_making_cycles(count: int) -> int:
    """How many collections start while ``count`` reference cycles are made (each garbage at once)."""
    started = []

    def record(phase, info):
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(record)
    try:
        for _ in range(count):
            cycle = []
            cycle.append(cycle)
    finally:
        gc.callbacks.remove(record)
    return len(started)


def test_cycles_made_while_relaxed_are_still_collected_only_rarely():
    """A long COPY must not let the rest of the process's garbage pile up for its whole length."""
    with gc_relaxed():
        relaxed = _collections_while_making_cycles(3 * YOUNG_THRESHOLD)
    usual = _collections_while_making_cycles(3 * YOUNG_THRESHOLD)

    assert 2 <= relaxed <= 4, relaxed  # one every YOUNG_THRESHOLD allocations
    assert usual >= 100 * relaxed, usual


def test_overlapping_relaxations_restore_the_thresholds_once_all_have_ended():
    usual = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other_relaxation():
        with gc_relaxed():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_relaxation)
    with gc_relaxed():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *usual[1:]) and gc.isenabled()
        thread.start()
        inside.wait(5)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD, "the other thread's relaxation still runs"
    release.set()
    thread.join()
    assert gc.get_threshold() == usual


def test_a_threshold_already_higher_is_kept():
    usual = gc.get_threshold()
    gc.set_threshold(10 * YOUNG_THRESHOLD, *usual[1:])
    try:
        with gc_relaxed():
            assert gc.get_threshold()[0] == 10 * YOUNG_THRESHOLD
        assert gc.get_threshold()[0] == 10 * YOUNG_THRESHOLD
    finally:
        gc.set_threshold(*usual)

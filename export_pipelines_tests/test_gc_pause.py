"""gc_paused: collection stops for the pause, and resumes only when the last overlapping pause ends."""

from __future__ import annotations

import gc
import threading

from export_pipelines.source.gc_pause import gc_paused


def test_overlapping_pauses_resume_collection_once_all_have_ended():
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other_pause():
        with gc_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_pause)
    with gc_paused():
        assert not gc.isenabled()
        thread.start()
        inside.wait(5)
    assert not gc.isenabled(), "the other thread's pause still runs"
    release.set()
    thread.join()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

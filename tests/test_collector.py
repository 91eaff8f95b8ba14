"""monitor/collector.py: the cyclic collector paused around bulk work, then as it was."""

from __future__ import annotations

import gc
import threading

import pytest

from monitor.collector import collector_paused


@pytest.fixture(autouse=True)
def _collector_on() -> None:
    gc.enable()


def test_paused_then_on_again_even_when_the_work_fails() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the store went away")
    assert gc.isenabled()


def test_left_off_when_the_process_had_turned_it_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_keep_it_off_until_the_last_ends() -> None:
    """A poll (one thread) and an evaluation (another) overlap: the one that ends first
    must not switch the collector on under the other."""
    first_in = threading.Event()
    first_may_end = threading.Event()
    seen_after_first: list[bool] = []

    def poll() -> None:
        with collector_paused():
            first_in.set()
            first_may_end.wait(5)

    worker = threading.Thread(target=poll)
    worker.start()
    assert first_in.wait(5)
    with collector_paused():  # the evaluation starts while the poll is paused
        first_may_end.set()
        worker.join(5)
        seen_after_first.append(gc.isenabled())
    assert seen_after_first == [False]
    assert gc.isenabled()


def test_nested_pauses() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_freeze_moves_what_the_block_left_alive_out_of_the_collectors_sight() -> None:
    """With ``freeze``, what the block allocated and kept is frozen (not walked by the
    collections its allocations would trigger); without it, nothing is frozen."""
    gc.unfreeze()
    try:
        with collector_paused():
            kept = [[n] for n in range(1000)]
        assert gc.get_freeze_count() == 0
        with collector_paused(freeze=True):
            kept += [[n] for n in range(1000)]
        assert gc.get_freeze_count() >= 2000
        assert gc.isenabled()
    finally:
        gc.unfreeze()

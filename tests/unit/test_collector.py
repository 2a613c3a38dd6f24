"""buildkit.collector: the one place that pauses CPython's cyclic garbage collector."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from buildkit.collector import FULL_DEFERRED, PAUSED


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled, threshold = gc.isenabled(), gc.get_threshold()
    yield
    assert (gc.isenabled(), gc.get_threshold()) == (enabled, threshold)


def test_paused_turns_the_collector_off_until_the_outermost_block_ends() -> None:
    gc.enable()
    with PAUSED:
        assert not gc.isenabled()
        with PAUSED:
            assert not gc.isenabled()
        assert not gc.isenabled()  # still inside the outer block
    assert gc.isenabled()


def test_paused_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with PAUSED:
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_full_deferred_keeps_young_collections_and_restores_the_threshold() -> None:
    before = gc.get_threshold()
    with FULL_DEFERRED:
        inside = gc.get_threshold()
        assert inside[:2] == before[:2]
        assert inside[2] > before[2]
        assert gc.isenabled()
    assert gc.get_threshold() == before


def test_concurrent_blocks_restore_the_collector_once_after_the_last() -> None:
    before = gc.get_threshold()
    inside = threading.Barrier(4)
    seen: list[tuple[int, int, int]] = []

    def load() -> None:
        with FULL_DEFERRED:
            inside.wait()
            seen.append(gc.get_threshold())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(threshold[2] > before[2] for threshold in seen)
    assert gc.get_threshold() == before

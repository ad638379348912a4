"""Holding the cyclic garbage collector off for a batch of work."""

import gc
import weakref

from billing_portal.lib.collector import collections_after


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_cycles_made_in_the_block_are_freed_when_it_ends():
    assert gc.isenabled()
    with collections_after():
        assert not gc.isenabled()
        node = Node()
        watch = weakref.ref(node)
        del node
        for _ in range(100_000):  # allocations that would set off collections
            Node()
        assert watch() is not None  # no collection ran
    assert gc.isenabled()
    assert watch() is None


def test_a_collector_turned_off_outside_stays_off():
    gc.disable()
    try:
        with collections_after():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_when_the_block_fails():
    try:
        with collections_after():
            raise ValueError("the chunk failed")
    except ValueError:
        pass
    assert gc.isenabled()

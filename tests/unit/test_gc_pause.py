"""`planfile.gc_paused` never withholds garbage from the collector: a small pause leaves its
objects to the young collections, and promotion after bulk builds is followed, every
`FULL_COLLECTION_AFTER` objects, by a full collection (the collector would not start one for
promoted objects by itself: a million explored schedules grew a worker to 12 GB)."""

from __future__ import annotations

import gc
import weakref

import pytest

from safeguards import planfile


class _Node:
    __slots__ = ("__weakref__", "me", "pad")


def _garbage_cycle(pad: int = 0) -> weakref.ref[_Node]:
    node = _Node()
    node.me = node  # a cycle: reference counting alone never frees it
    node.pad = [[] for _ in range(pad)]  # tracked objects, to make a pause "bulk"
    return weakref.ref(node)


@pytest.fixture(autouse=True)
def _collector_on() -> None:
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.collect()


def test_small_pauses_leave_their_cycles_to_the_young_collections() -> None:
    refs = []
    for _ in range(5_000):
        with planfile.gc_paused():
            refs.append(_garbage_cycle())
    gc.collect(1)  # young and middle generations only: promoted cycles would survive this
    assert sum(r() is not None for r in refs) == 0


def test_bulk_pauses_promote_and_a_full_collection_follows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planfile, "PROMOTE_AT", 50)
    monkeypatch.setattr(planfile, "FULL_COLLECTION_AFTER", 10_000)
    monkeypatch.setattr(planfile, "_promoted", 0)
    first = []
    with planfile.gc_paused():
        first.append(_garbage_cycle(pad=100))
    gc.collect(1)
    assert first[0]() is not None  # promoted to the oldest generation: young collections miss it
    refs = []
    for _ in range(200):  # 200 x ~100 objects promoted: at least one full collection
        with planfile.gc_paused():
            refs.append(_garbage_cycle(pad=100))
    assert first[0]() is None
    assert sum(r() is not None for r in refs) < 200

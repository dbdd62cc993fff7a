"""The served process freezes what each full garbage collection left, so the next one walks only what came since."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from exam_server.core.collector import SurvivorFreezer, freeze_survivors_of_full_collections


@pytest.fixture
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's own objects go back to the collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_only_a_full_collection_makes_a_freeze_due(unfrozen_afterwards: None) -> None:
    freezer = SurvivorFreezer()
    gc.callbacks.append(freezer.on_collection)
    try:
        gc.collect(1)
        assert not freezer.freeze_if_due()
        survivors = [Node() for _ in range(1000)]
        before = gc.get_freeze_count()
        gc.collect(2)
        assert freezer.freeze_if_due()
        assert gc.get_freeze_count() >= before + len(survivors)
        assert not freezer.freeze_if_due()  # once per full collection
    finally:
        gc.callbacks.remove(freezer.on_collection)


def test_a_later_full_collection_walks_only_what_came_since(unfrozen_afterwards: None) -> None:
    kept = [Node() for _ in range(20_000)]
    freezer = SurvivorFreezer()
    gc.callbacks.append(freezer.on_collection)
    try:
        gc.collect()
        freezer.freeze_if_due()
        # A cycle made after the freeze is still collected; the frozen survivors are not walked.
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        walked = sum(len(gc.get_objects(generation)) for generation in range(3))  # what a full collection walks
        assert walked < len(kept)
        assert gc.collect() >= 2
    finally:
        gc.callbacks.remove(freezer.on_collection)


def test_the_background_loop_freezes_within_its_period_and_unhooks_when_stopped(unfrozen_afterwards: None) -> None:
    rounds = iter(range(3))
    hooked_while_running: list[bool] = []

    def sleep(_seconds: float) -> None:
        hooked_while_running.append(len(gc.callbacks) > 0)
        if next(rounds, None) is None:
            raise SystemExit
        gc.collect()  # a full collection in each period

    before = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        freeze_survivors_of_full_collections(sleep, every_s=0.0)
    assert all(hooked_while_running)
    assert gc.get_freeze_count() > before
    assert not any(getattr(cb, "__self__", None).__class__ is SurvivorFreezer for cb in gc.callbacks)

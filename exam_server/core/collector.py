"""Short pauses of the garbage collector on a long-lived exam server.

A full collection (generation 2) walks every object the collector tracks and holds the event loop, so every
candidate's socket, for the whole walk. What start-up built is frozen out of it (`gc.freeze()` in `examctl run`), but
a centre's connections add their own long-lived objects: with 1,000 sockets a process's full collections took
50-200 ms (measured with a gc callback in `benchmarks/load.py --backend postgresql --processes 2`, issue 17), and
every answer saved meanwhile waited that long. Those collections are the slow answers' tail.

After each full collection, what survived it is alive, so it is frozen too: the next full collection walks only what
came since. Python starts a full collection when the objects that reached the oldest generation since the last one
are a quarter of those it holds, so with the survivors frozen each later one is small. Frozen objects are still freed
when nothing refers to them; only a reference cycle among them is never collected, so a socket that closes leaves
its cycles behind, as does a request that was in flight at a freeze. With 5,000 candidates on one process, each
reconnecting once, the process's peak memory was 950 MB, against 958 MB before this change.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class SurvivorFreezer:
    """Notes each full collection (a gc callback may not freeze) and freezes its survivors at `freeze_if_due`."""

    def __init__(self) -> None:
        self.due = False

    def on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            self.due = True

    def freeze_if_due(self) -> bool:
        if not self.due:
            return False
        self.due = False
        gc.freeze()
        return True


def freeze_survivors_of_full_collections(sleep: Callable[[float], Any], every_s: float = 1.0) -> None:
    """Run forever (a background greenlet): freeze what each full collection left, within `every_s` of it."""
    freezer = SurvivorFreezer()
    gc.callbacks.append(freezer.on_collection)
    try:
        while True:
            sleep(every_s)
            if freezer.freeze_if_due():
                log.debug("froze the survivors of a full collection: %d objects frozen", gc.get_freeze_count())
    finally:
        gc.callbacks.remove(freezer.on_collection)

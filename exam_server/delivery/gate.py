"""The burst gate: what a whole room does at once passes it by cost, so an answer saved meanwhile waits for at
most a few milliseconds of that work, never for a queue of it.

A whole room presses 开始考试 and fetches its paper in the same minute, and after a server restart every
candidate connects and joins again within seconds. Each such request is a millisecond or more of work; a save
arriving meanwhile would wait behind every one queued before it. Instead they pass this gate, which lets in
requests while the work it has let in (each kind's own measured duration, a moving average) fits `budget_s`,
first come first served; a request alone may always pass, however costly. A cheap socket connect then no longer
waits as long as a paper, and the wait a save can suffer is bounded in time, not in a count of requests of
unknown size. Saves, flags and submits never pass it. Under gevent the lock and events are gevent's: waiting
costs nothing, and an admitted waiter runs after the events already queued, saves among them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# How much a new measurement moves a kind's estimate.
_SMOOTHING = 0.2


@dataclass
class Pass:
    """One admitted request: its kind, the cost it was admitted at and when it began."""

    kind: str
    cost: float
    began: float = field(default_factory=time.perf_counter)


class CostGate:
    """Admit requests while the estimated cost of those inside is at most `budget_s` (see the module docstring)."""

    def __init__(self, budget_s: float, estimates: dict[str, float]) -> None:
        self.budget_s = budget_s
        self._estimates = dict(estimates)
        self._inside = 0.0
        self._count = 0
        self._waiting: deque[tuple[float, threading.Event]] = deque()
        self._lock = threading.Lock()

    def estimate(self, kind: str) -> float:
        return self._estimates.get(kind, self.budget_s / 4)

    @property
    def inside_s(self) -> float:
        return self._inside

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _fits(self, cost: float) -> bool:
        return self._count == 0 or self._inside + cost <= self.budget_s

    def acquire(self, kind: str, cost: float | None = None) -> Pass:
        """Wait for a place for a request of `kind` (at its estimated cost, or `cost`); first come first served."""
        cost = self.estimate(kind) if cost is None else cost
        with self._lock:
            if not self._waiting and self._fits(cost):
                self._inside += cost
                self._count += 1
                return Pass(kind, cost)
            admitted = threading.Event()
            self._waiting.append((cost, admitted))
        admitted.wait()  # the releaser counted this request in before setting the event
        return Pass(kind, cost)

    def release(self, held: Pass, measure: bool = True) -> None:
        """The request is done: its cost leaves the gate, its duration updates its kind's estimate, and the
        waiters at the head that now fit are let in."""
        took = time.perf_counter() - held.began
        with self._lock:
            self._inside = max(0.0, self._inside - held.cost)
            self._count -= 1
            if measure:
                before = self._estimates.get(held.kind, took)
                self._estimates[held.kind] = before + _SMOOTHING * (took - before)
            while self._waiting and self._fits(self._waiting[0][0]):
                cost, admitted = self._waiting.popleft()
                self._inside += cost
                self._count += 1
                admitted.set()

    @contextmanager
    def admit(self, kind: str) -> Iterator[Pass]:
        held = self.acquire(kind)
        try:
            yield held
        finally:
            self.release(held)

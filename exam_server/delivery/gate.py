"""The burst gate: what a whole room does at once passes it by cost, so an answer saved meanwhile waits for at
most a few milliseconds of that work, never for a queue of it.

A whole room presses 开始考试 and fetches its paper in the same minute, and after a server restart every
candidate connects and joins again within seconds. Each such request is a millisecond or more of work; a save
arriving meanwhile would wait behind every one queued before it. Instead they pass this gate, which lets in
requests while the work it has let in (each kind's own measured duration without its waits for the database, a
moving average) fits `budget_s`, first come first served; a request alone may always pass, however costly. A cheap
socket connect then no longer waits as long as a paper, and the wait a save can suffer is bounded in time, not in a
count of requests of unknown size. Saves, flags and submits never pass it. Under gevent the lock and events are
gevent's: waiting costs nothing, and an admitted waiter runs after the events already queued, saves among them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
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
    idle_before: float = 0.0  # the gate's idle clock when it began


@dataclass
class _Waiter:
    """A request waiting for a place: its kind, a cost it was given (else its kind's estimate when let in)."""

    kind: str
    cost: float | None
    admitted_at: float = 0.0
    admitted: threading.Event = field(default_factory=threading.Event)


class CostGate:
    """Admit requests while the estimated cost of those inside is at most `budget_s` (see the module docstring)."""

    def __init__(self, budget_s: float, estimates: dict[str, float], idle: Callable[[], float] = lambda: 0.0) -> None:
        """`idle`: a clock of the time the current request has spent waiting rather than working (for the database's
        write lock, say), which is no part of its cost."""
        self.budget_s = budget_s
        self._idle = idle
        self._estimates = dict(estimates)
        self._inside = 0.0
        self._count = 0
        self._waiting: deque[_Waiter] = deque()
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
        """Wait for a place for a request of `kind` (at its estimated cost, or `cost`); first come first served.
        A request that waited is let in at its kind's estimate then, not the one when it came: the first requests of a
        burst (cold caches) cost more than the rest, and a queue priced at their cost went in one by one."""
        with self._lock:
            price = self._cost(kind, cost)
            if not self._waiting and self._fits(price):
                self._inside += price
                self._count += 1
                return Pass(kind, price, idle_before=self._idle())
            waiter = _Waiter(kind, cost)
            self._waiting.append(waiter)
        waiter.admitted.wait()  # the releaser counted this request in before setting the event
        return Pass(kind, waiter.admitted_at, idle_before=self._idle())

    def _cost(self, kind: str, cost: float | None) -> float:
        return self.estimate(kind) if cost is None else cost

    def release(self, held: Pass, measure: bool = True) -> None:
        """The request is done: its cost leaves the gate, its duration updates its kind's estimate, and the
        waiters at the head that now fit are let in."""
        took = time.perf_counter() - held.began - (self._idle() - held.idle_before)
        with self._lock:
            self._inside = max(0.0, self._inside - held.cost)
            self._count -= 1
            if measure:
                before = self._estimates.get(held.kind, took)
                self._estimates[held.kind] = before + _SMOOTHING * (took - before)
            while self._waiting:
                head = self._waiting[0]
                price = self._cost(head.kind, head.cost)
                if not self._fits(price):
                    break
                waiter = self._waiting.popleft()
                waiter.admitted_at = price
                self._inside += price
                self._count += 1
                waiter.admitted.set()

    @contextmanager
    def admit(self, kind: str) -> Iterator[Pass]:
        held = self.acquire(kind)
        try:
            yield held
        finally:
            self.release(held)

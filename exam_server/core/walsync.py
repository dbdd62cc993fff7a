"""One disk sync of SQLite's write-ahead log for all the commits of a turn of the server's event loop.

With `synchronous=FULL` every commit syncs the log itself, and under gevent that sync holds the whole process: in a
5,000-candidate reconnect storm a quarter of a save's time was its sync, paid once per answer while every other
socket waited (issue 17). Here a commit on the loop's thread waits for the sync of its turn instead, and the first
commit of a turn asks for that sync to run once the greenlets already queued have had their turn, so the answers
saved in one turn share it. A commit still returns, and its acknowledgement is still sent, only once its log
entries are on disk: what a power cut can lose was never acknowledged, and the page sends it again.

The sync runs on the loop's thread, not in gevent's thread pool: the pool's hand-offs cost more than the sync
(tried and measured: README, issue 17). A commit from another thread, or from the hub itself, syncs on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gevent import get_hub, getcurrent
from gevent.event import Event
from gevent.monkey import get_original, is_module_patched

from item_bank.db import sync_file

log = logging.getLogger(__name__)


@dataclass
class _Turn:
    """The commits of one turn waiting for its sync, and what the sync raised, if anything."""

    done: Event = field(default_factory=Event)
    error: OSError | None = None
    commits: int = 0


class TurnSync:
    """`wal_sync` for `item_bank.db.make_engine` in a gevent server (see the module docstring). Made on the loop's
    thread (the app's creation)."""

    def __init__(self) -> None:
        self._hub = get_hub()
        self._thread_ident = get_original("threading", "get_ident")
        self._loop_thread = self._thread_ident()
        self._turns: dict[str, _Turn] = {}
        self.syncs = 0
        self.commits = 0

    def __call__(self, path: str) -> None:
        self.commits += 1
        if self._thread_ident() != self._loop_thread or getcurrent() is self._hub:
            sync_file(path)  # nothing to share the sync with, and the hub cannot wait
            self.syncs += 1
            return
        turn = self._turns.get(path)
        if turn is None:
            turn = self._turns[path] = _Turn()
            self._hub.loop.run_callback(self._sync, path)
        turn.commits += 1
        turn.done.wait()
        if turn.error is not None:
            raise turn.error

    def _sync(self, path: str) -> None:
        turn = self._turns.pop(path)
        try:
            sync_file(path)
        except OSError as exc:
            log.error("could not sync %s for %d commit(s): %s", path, turn.commits, exc)
            turn.error = exc
        self.syncs += 1
        turn.done.set()


def gevent_serving() -> bool:
    """Whether this process serves under gevent's patches (`examctl run`): only there is a turn shared."""
    return bool(is_module_patched("threading"))

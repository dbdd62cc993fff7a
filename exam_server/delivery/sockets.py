"""How many /exam sockets a candidate holds at once, across every process of the server.

A candidate needs one socket (two for a moment while a page reloads); fifty open tabs or a script
would each cost a connection, a greenlet and the room's broadcasts. Each connect takes a slot, each
disconnect gives it back. One process counts in memory. Several processes behind a Redis message queue
count in one sorted set per candidate, each entry scored with its expiry: the process holding the
socket renews its entries with the socket presence (every few seconds), so the slots of a killed
process expire by themselves instead of locking its candidates out. Only the connect and the disconnect
pay for this; saves, flags and submits never touch it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from item_bank.kernel import process_cache

log = logging.getLogger(__name__)

SLOT_PREFIX = "exam:sockets:"
# A slot lives this long without renewal: three heartbeats of the presence publisher (events.PRESENCE_EVERY_S).
SLOT_TTL_S = 15.0

# Drop the expired entries, then take a slot if fewer than the cap are held: one atomic step, so two
# processes taking the last slot at once cannot both get it.
_TAKE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 2))
return 1
"""

_lock = threading.Lock()
# candidate id -> the sockets holding a slot in this process (a registered cache: tests empty it with the rest).
_local = process_cache("delivery.socket_slots")


def _key(candidate_id: int) -> str:
    return f"{SLOT_PREFIX}{candidate_id}"


def take(store: Any, candidate_id: int, member: str, cap: int) -> bool:
    """Take a socket slot for `member` (a process-unique socket id); False when `cap` are already held.

    `store` is the Redis client of the message queue, or None for one process. If Redis cannot be
    reached the socket is let in: a refused exam page is worse than one socket too many.
    """
    if cap <= 0:
        return True
    if store is None:
        with _lock:
            held = _local.setdefault(candidate_id, set())
            if member not in held and len(held) >= cap:
                return False
            held.add(member)
            return True
    try:
        return bool(store.eval(_TAKE, 1, _key(candidate_id), time.time(), SLOT_TTL_S, cap, member))
    except Exception:
        log.warning("could not count the sockets of candidate %s", candidate_id, exc_info=True)
        return True


def give_back(store: Any, candidate_id: int, member: str) -> None:
    """Release `member`'s slot (a disconnect)."""
    if store is None:
        with _lock:
            held = _local.get(candidate_id)
            if held is not None:
                held.discard(member)
                if not held:
                    del _local[candidate_id]
        return
    try:
        store.zrem(_key(candidate_id), member)
    except Exception:  # the entry expires by itself
        log.warning("could not release a socket slot of candidate %s", candidate_id, exc_info=True)


def renew(store: Any, held: Iterable[tuple[int, str]]) -> None:
    """Push the expiry of this process's live slots forward (the heartbeat); only entries still present."""
    expires = time.time() + SLOT_TTL_S
    pipe = store.pipeline(transaction=False)
    for candidate_id, member in held:
        pipe.zadd(_key(candidate_id), {member: expires}, xx=True)
        pipe.expire(_key(candidate_id), int(SLOT_TTL_S * 2))
    pipe.execute()


def held_count(store: Any, candidate_id: int) -> int:
    """The live slots of a candidate (for tests and the operator)."""
    if store is None:
        with _lock:
            return len(_local.get(candidate_id, ()))
    store.zremrangebyscore(_key(candidate_id), "-inf", time.time())
    return int(store.zcard(_key(candidate_id)))


"""How many /exam sockets a candidate holds at once, across every process of the server.

A candidate needs one socket (two for a moment while a page reloads); fifty open tabs or a script
would each cost a connection, a greenlet and the room's broadcasts. Each connect takes a slot, each
disconnect gives it back. One process counts in memory. Several processes behind a Redis message queue
count in one sorted set per candidate, whose entries are named after the process that holds the socket
(`<process key>:<socket id>`). An entry lives as long as its process's key, which the process's presence
heartbeat keeps alive (events.PRESENCE_EVERY_S): the slots of a killed process are dropped by the next
connect of their candidate once its key expired, instead of locking the candidate out. The heartbeat is one
command a process whatever the number of sockets: renewing every slot instead took the loop of a process
with 1,000 sockets 28 ms each time (redis-py packing and parsing 2,000 commands; issue 17), and both
processes of a centre, started together, stalled in step. Only the connect and the disconnect pay for the
slots; saves, flags and submits never touch them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from item_bank.kernel import process_cache

log = logging.getLogger(__name__)

SLOT_PREFIX = "exam:sockets:"
# A process's key lives this long without its heartbeat: three heartbeats (events.PRESENCE_EVERY_S).
SLOT_TTL_S = 15.0
# The candidate's set itself goes after a day untouched (a candidate whose process died and who never came back).
SLOTS_KEY_TTL_S = 24 * 3600

# Drop the entries of processes whose key expired, then take a slot if fewer than the cap are held: one atomic
# step, so two processes taking the last slot at once cannot both get it. The taking process's key is made here if
# its heartbeat has not run yet (its first connect), so its own new entry is not dropped by another's take.
# KEYS: the candidate's slots, the taking process's key; ARGV: now, the process key's life, cap, member, set's life.
_TAKE = """
redis.call('SET', KEYS[2], '[]', 'EX', tonumber(ARGV[2]), 'NX')
for _, held in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local owner = string.match(held, '^(.*):[^:]*$')
  if owner == nil or redis.call('EXISTS', owner) == 0 then redis.call('ZREM', KEYS[1], held) end
end
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[4])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
"""

_lock = threading.Lock()
# candidate id -> the sockets holding a slot in this process (a registered cache: tests empty it with the rest).
_local = process_cache("delivery.socket_slots")
# Slots whose release could not reach Redis: given back again at the next heartbeat (while their process lives,
# nothing else would drop them).
_unreleased = process_cache("delivery.socket_slots_unreleased")


def _key(candidate_id: int) -> str:
    return f"{SLOT_PREFIX}{candidate_id}"


def owner_of(member: str) -> str:
    """The key of the process that holds the socket `member` names."""
    return member.rpartition(":")[0]


def take(store: Any, candidate_id: int, member: str, cap: int) -> bool:
    """Take a socket slot for `member` (`<process key>:<socket id>`); False when `cap` are already held.

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
        return bool(store.eval(_TAKE, 2, _key(candidate_id), owner_of(member), time.time(), int(SLOT_TTL_S), cap,
                               member, SLOTS_KEY_TTL_S))
    except Exception:
        log.warning("could not count the sockets of candidate %s", candidate_id, exc_info=True)
        return True


def give_back_unreleased(store: Any) -> None:
    """Release again the slots whose release failed (the heartbeat's part; usually nothing)."""
    for (candidate_id, member) in list(_unreleased):
        store.zrem(_key(candidate_id), member)
        _unreleased.pop((candidate_id, member), None)


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
    except Exception:  # released by the next heartbeat
        _unreleased[(candidate_id, member)] = True
        log.warning("could not release a socket slot of candidate %s", candidate_id, exc_info=True)


def held_count(store: Any, candidate_id: int) -> int:
    """The live slots of a candidate (for tests and the operator)."""
    if store is None:
        with _lock:
            return len(_local.get(candidate_id, ()))
    members = [m.decode() if isinstance(m, bytes) else m for m in store.zrange(_key(candidate_id), 0, -1)]
    return sum(1 for member in members if store.exists(owner_of(member)))


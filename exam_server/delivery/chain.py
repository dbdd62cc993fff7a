"""An attempt's event log as a hash chain (issue 18): each event carries the hash of the one before it, so an
edited, removed or reordered event is found by recomputing the chain, on the site or at the centre.

An event's hash is SHA-256 over the previous event's hash and a canonical encoding of what the event says
(kind, actor, time, item, seq, idempotency key, payload). Row ids are each node's own (a site creates its rows from
the sitting package), so the item is named by its bank number and version (`external_id#version_no`, as the sitting
package names it) and the same chain verifies on both nodes. (A room-wide event's payload keeps the site's own
room id as it was written: it is what the site hashed, and nothing reads it back.) The acknowledgement a step got is not in it: it is the server's reply, set after the event on the
submit path, and nothing is scored from it. The attempt row keeps the newest hash (`last_event_hash`), so
appending costs one hash of a short string and no query, and removing the newest events is found too.

The hot paths (join, start, save, flag) hash in `store`; every event added through the ORM (submit, the
proctor's verbs, incidents) is hashed by the flush hook below, reading the attempt's newest hash under its lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, event, inspect, select, update
from sqlalchemy.orm import Session, attributes

from exam_server.delivery.models import Attempt, AttemptEvent
from item_bank.db import utcnow
from item_bank.kernel import process_cache
from item_bank.models import Item, ItemVersion

GENESIS = ""
_A = Attempt.__table__
_DEFAULT_ACTOR = AttemptEvent.__table__.c.actor.default.arg  # type: ignore[union-attr]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# One encoder made once: json.dumps with options builds a new one per call, which was most of a hash's cost.
_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_MICROSECOND = dt.timedelta(microseconds=1)


def _stamp(at: dt.datetime) -> str:
    """A time as people read it in a message (UTC)."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds") + "Z"


def _micros(at: dt.datetime) -> int:
    # Exact integer arithmetic (no float, no formatting): stored times come back aware; a naive one is UTC.
    return ((at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)) - _EPOCH) // _MICROSECOND


def _payload(payload: Any) -> Any:
    # What the JSON column gives back: keys are text. Payloads are the code's own dicts with text keys (an answer
    # value came in as JSON), so the round trip that would turn other keys into text is only paid where needed.
    if payload is None:
        return {}
    if isinstance(payload, dict) and all(type(k) is str for k in payload):
        return payload
    return json.loads(json.dumps(payload))


def canonical(kind: str, actor: str, at: dt.datetime, item: str | None, seq: int | None,
              key: str | None, payload: Any) -> str:
    """The event as one line: the same on every node and database for the same event (`item`: its ref; `at` in
    microseconds since 1970 UTC)."""
    return _ENCODE([1, kind, actor, _micros(at), item, seq, key, _payload(payload)])


def link(prev: str, kind: str, actor: str, at: dt.datetime, item: str | None, seq: int | None,
         key: str | None, payload: Any) -> str:
    """The hash of an event whose predecessor's hash is `prev` (GENESIS for the first)."""
    text = prev + "\n" + canonical(kind, actor, at, item, seq, key, payload)
    # surrogatepass: an answer may hold a lone surrogate (it arrived as JSON text); it must hash, not fail.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------- items by a name both nodes share

# Item version id -> `external_id#version_no`, per database: a version never changes its number.
_REFS = process_cache("delivery.item_refs")
RefOf = Callable[[int], str]


def item_refs(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The refs of item versions `ids` (unknown ids are left out); each read once per process."""
    url = str(session.get_bind().url)
    wanted = set(ids)
    out = {i: _REFS[(url, i)] for i in wanted if (url, i) in _REFS}
    missing = wanted - out.keys()
    if missing:
        rows = session.connection().execute(
            select(ItemVersion.id, Item.external_id, ItemVersion.version_no)
            .join(Item, Item.id == ItemVersion.item_id).where(ItemVersion.id.in_(missing)))
        for version_id, external_id, version_no in rows:
            out[version_id] = _REFS[(url, version_id)] = f"{external_id}#{version_no}"
    return out


def item_ref(session: Session, item_version_id: int | None) -> str | None:
    """The ref of one item version (None for an event about no item)."""
    if item_version_id is None:
        return None
    return item_refs(session, (item_version_id,)).get(item_version_id, f"#{item_version_id}")


class EventLike(Protocol):
    kind: str
    actor: str
    at: dt.datetime
    item_version_id: int | None
    seq: int | None
    key: str | None
    payload: Any
    prev_hash: str | None
    hash: str | None


def _item_of(e: EventLike | dict[str, Any], refs: Mapping[int, str]) -> str | None:
    # A package's event names its item by ref already ("item"); a stored one by its local id.
    if isinstance(e, dict) and "item" in e:
        return e["item"]
    version_id = e.get("item_version_id") if isinstance(e, dict) else e.item_version_id
    return None if version_id is None else refs.get(version_id, f"#{version_id}")


def hash_of(e: EventLike | dict[str, Any], prev: str, refs: Mapping[int, str] | None = None) -> str:
    """The hash `e` (an event row, an ORM event, a dict of its columns or a package's event) should carry after
    `prev`; `refs` names the items of stored events by ref."""
    item = _item_of(e, refs or {})
    if isinstance(e, dict):
        return link(prev, e["kind"], e["actor"], e["at"], item, e.get("seq"), e.get("key"), e.get("payload"))
    return link(prev, e.kind, e.actor, e.at, item, e.seq, e.key, e.payload)


def chain_rows(rows: Sequence[dict[str, Any]], refs: Mapping[int, str],
               heads: dict[int, str] | None = None) -> dict[int, str]:
    """Fill `prev_hash` and `hash` of event rows about to be inserted in this order (a bulk insert); returns
    each attempt's newest hash, to be stored as its `last_event_hash`. `heads`: the attempts' current ones."""
    last = dict(heads or {})
    for row in rows:
        prev = last.get(row["attempt_id"], GENESIS)
        row["prev_hash"] = prev
        row["hash"] = last[row["attempt_id"]] = hash_of(row, prev, refs)
    return last


# ---------------------------------------------------------------- verifying


PROBLEMS = {
    "edited": "内容被改动（重新计算的哈希与记录的不符）",
    "broken_link": "与前一个事件接不上：其前面的事件被删除、插入或调换了顺序",
    "unchained": "没有哈希（不在链上）",
    "tail_missing": "之后的事件被删除：作答记录记下的最后一个哈希与日志末尾不符",
}


def describe(position: int, e: EventLike | dict[str, Any], event_id: int | None = None) -> str:
    """How people name an event: its place in the log, what it was, its seq and time (and local id)."""
    get = e.get if isinstance(e, dict) else lambda name: getattr(e, name, None)
    parts = [str(get("kind"))]
    if get("seq") is not None:
        parts.append(f"序号 {get('seq')}")
    at = get("at")
    if isinstance(at, dt.datetime):
        parts.append(_stamp(at))
    elif at:
        parts.append(str(at))
    label = f"第 {position} 个事件（{'，'.join(parts)}）"
    return f"{label}[编号 {event_id}]" if event_id is not None else label


@dataclass
class ChainBreak:
    """The first event at which a chain stops verifying, and why."""

    position: int  # 1-based place in the log
    problem: str  # a key of PROBLEMS
    event: str  # `describe` of the event
    event_id: int | None = None

    def message(self, attempt: str) -> str:
        return f"{attempt}的事件记录在{self.event}处断开：{PROBLEMS[self.problem]}"


@dataclass
class ChainReport:
    """What verifying one attempt's chain found: how many events, the head hash, and the first break (if any)."""

    events: int
    head: str
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_events(events: Iterable[EventLike | dict[str, Any]], head: str | None = None,
                  ids: Sequence[int | None] | None = None, refs: Mapping[int, str] | None = None,
                  *, start: str = GENESIS, first: int = 1) -> ChainReport:
    """Recompute a chain over `events` in log order, from GENESIS or, for the continuation of a stored log, from
    its newest hash `start` (`first`: the place of the first event in the whole log); `head` is the newest hash
    the attempt (or the package) recorded, which finds removed events at the end; `refs` names stored events'
    items. Stops at the first break."""
    prev = start
    count = first - 1
    for count, e in enumerate(events, start=first):
        if isinstance(e, dict):
            stored_prev, stored = e.get("prev_hash"), e.get("hash")
        else:
            stored_prev, stored = e.prev_hash, e.hash
        problem = None
        if not stored:
            problem = "unchained"
        elif hash_of(e, stored_prev or GENESIS, refs) != stored:
            problem = "edited"
        elif (stored_prev or GENESIS) != prev:
            problem = "broken_link"
        if problem is not None:
            event_id = ids[count - first] if ids is not None else (
                e.get("id") if isinstance(e, dict) else getattr(e, "id", None))
            return ChainReport(count, prev, ChainBreak(count, problem, describe(count, e, event_id), event_id))
        prev = stored
    if head is not None and head != prev:
        return ChainReport(count, prev, ChainBreak(count + 1, "tail_missing", f"第 {count} 个事件之后", None))
    return ChainReport(count, prev)


def verify_attempt(session: Session, attempt_id: int) -> ChainReport | None:
    """Verify attempt `attempt_id`'s stored log against its recorded head; None for an unknown attempt."""
    head = session.scalar(select(Attempt.last_event_hash).where(Attempt.id == attempt_id))
    if head is None:
        return None
    rows = session.execute(
        select(AttemptEvent.id, AttemptEvent.kind, AttemptEvent.actor, AttemptEvent.at, AttemptEvent.item_version_id,
               AttemptEvent.seq, AttemptEvent.key, AttemptEvent.payload, AttemptEvent.prev_hash, AttemptEvent.hash)
        .where(AttemptEvent.attempt_id == attempt_id).order_by(AttemptEvent.id)
    ).all()
    refs = item_refs(session, {r.item_version_id for r in rows if r.item_version_id is not None})
    return verify_events(rows, head, refs=refs)


# ---------------------------------------------------------------- events added through the ORM


@event.listens_for(Session, "before_flush")
def _chain_new_events(session: Session, _context: Any, _instances: Any) -> None:
    """Hash every AttemptEvent about to be inserted, in insertion order, after its attempt's newest hash.

    The attempt's hash is read afresh and locked (FOR UPDATE on PostgreSQL): an ORM copy of the attempt may be
    older than a save written since by a prepared statement, and two writers must not both extend one head.
    """
    new = [obj for obj in session.new if isinstance(obj, AttemptEvent)]
    if not new:
        return
    new.sort(key=lambda obj: attributes.instance_state(obj).insert_order)
    connection = session.connection()
    ids = sorted({e.attempt_id for e in new})
    query = select(_A.c.id, _A.c.last_event_hash).where(_A.c.id.in_(ids))
    if connection.dialect.name != "sqlite":
        query = query.with_for_update()
    heads = {row.id: row.last_event_hash or GENESIS for row in connection.execute(query)}
    refs = item_refs(session, {e.item_version_id for e in new if e.item_version_id is not None})
    for e in new:
        # The columns' own defaults apply only at the INSERT, after the hash: the same values, set now.
        if e.at is None:
            e.at = utcnow()
        if e.actor is None:
            e.actor = _DEFAULT_ACTOR
        if e.payload is None:
            e.payload = {}
        prev = heads.get(e.attempt_id, GENESIS)
        e.prev_hash = prev
        e.hash = heads[e.attempt_id] = hash_of(e, prev, refs)
    connection.execute(update(_A).where(_A.c.id == bindparam("b_id")).values(last_event_hash=bindparam("b_head")),
                       [{"b_id": i, "b_head": h} for i, h in heads.items()])
    mapper = inspect(Attempt)
    for attempt_id, head in heads.items():
        attempt = session.identity_map.get(mapper.identity_key_from_primary_key((attempt_id,)))
        if attempt is not None:
            attributes.set_committed_value(attempt, "last_event_hash", head)

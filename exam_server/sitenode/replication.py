"""A site's warm standby (issue 18 §4): the replication feed a site's server serves, and its checked, idempotent
application on the standby that follows it.

Decision: the site's own replication of what exam day writes, not SQLite's WAL shipped by a tool (Litestream is not
packaged for us, and a WAL copy checks nothing). The standby starts from a consistent copy of the primary's whole
database (SQLite's backup API, `snapshot`), so both hold the same rows under the same ids; from then on it pulls,
about once a second, the delta of the tables exam day changes:

- attempt events after the standby's newest (ids rise in commit order: SQLite has one writer at a time), each
  applied only where it continues the standby's copy of that attempt's hash chain (delivery/chain.py) — an edited,
  removed or reordered event is refused naming the attempt and the event, as a results package's would be;
- the state of every attempt those events touched (clock, status, pauses and extra time, workstation, counters),
  read in the same snapshot as the events, and the answers the new events imply (`replay_answers`, the results
  package's replay);
- proctors' audit rows after the standby's newest;
- the small tables a site changes in place (tickets' credentials and accommodations, staff accounts): a digest each
  pull, the rows only when the standby's digest differs (a first login, a password reset);
- anything else (a package imported, the paper unsealed, a new account or seat): its "generation" changes and the
  standby takes a new whole copy.

Nothing is added to the primary's save path: the feed reads what a save writes anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.signing import SigningError, sign, verify
from exam_server.delivery.chain import GENESIS, item_refs, verify_events
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.sessions.models import Candidate, ExamSession, Room, Seat, Ticket
from exam_server.sitenode.models import SittingImport, TrustedKey
from exam_server.sitenode.package import PackageError
from exam_server.sitenode.results_package import ATTEMPT_TIMES, ATTEMPT_VALUES, replay_answers
from item_bank.audit import AuditEvent
from item_bank.kernel import transaction
from item_bank.models import ItemVersion

FORMAT = "site-replication/1"
# Events per feed answer: a whole room's burst fits; a standby far behind asks again at once.
BATCH = 5000
# A signed request is accepted this long either side of the primary's clock (the two machines share a LAN).
SIGNATURE_WINDOW_S = 120
SIGNATURE_HEADER = "X-Standby-Signature"

_E, _A, _R, _AUDIT = AttemptEvent.__table__, Attempt.__table__, Response.__table__, AuditEvent.__table__
# An attempt's state as the feed carries it: what the results package carries, and the workstation it is bound to
# (the same browser then rejoins the standby without a proctor allowing a move).
STATE_COLUMNS = (*ATTEMPT_TIMES, *ATTEMPT_VALUES, "workstation", "pending_workstation", "last_event_hash")
EVENT_COLUMNS = ("id", "attempt_id", "at", "kind", "actor", "item_version_id", "seq", "key", "payload", "ack",
                 "prev_hash", "hash")
# Tables a site changes in place on exam day, and the columns it changes: mirrored whole when their digest differs.
MIRRORED: dict[str, tuple[Table, tuple[str, ...]]] = {
    "ticket": (Ticket.__table__, ("password_hash", "password_sealed", "password_issued_at", "first_login_at",
                                  "status", "seat_id", "form_id", "extra_time_s", "separate_room",
                                  "accommodation_reason", "session_epoch")),
    "user": (User.__table__, ("display_name", "password_hash", "roles", "room_id", "active", "session_epoch")),
}


class ReplicationError(PackageError):
    """A feed the standby refuses (tampered, from another database) or a request the primary refuses."""

    default_code = "replication"


# ------------------------------------------------------------------------------------------------ values as JSON


def _out(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _in(table: Table, name: str, value: Any) -> Any:
    if value is None:
        return None
    kind = table.c[name].type
    kind = getattr(kind, "impl", kind)  # UTCDateTime decorates a DateTime
    if isinstance(kind, DateTime):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if isinstance(kind, Date):
        return dt.date.fromisoformat(value)
    return value


def _row(table: Table, row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    mapping = row._mapping
    return {name: _out(mapping[name]) for name in names}


def _digest(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ at the primary


def generation(session: Session) -> str:
    """What changes only outside an exam's minutes and is not in the feed (a package imported, the paper unsealed,
    rows added to the rarer tables): when it differs the standby takes a whole new copy."""
    parts: list[Any] = [[r.id, _out(r.unsealed_at)] for r in session.execute(
        select(SittingImport.id, SittingImport.unsealed_at).order_by(SittingImport.id))]
    for model in (ExamSession, Candidate, Ticket, Attempt, Room, Seat, User, ItemVersion, TrustedKey):
        parts.append(session.scalar(select(func.max(model.id))))
    parts.append([[r.id, r.status, r.paper_sealed] for r in session.execute(
        select(ExamSession.id, ExamSession.status, ExamSession.paper_sealed).order_by(ExamSession.id))])
    parts.append([[r.id, _out(r.revoked_at)] for r in session.execute(
        select(TrustedKey.id, TrustedKey.revoked_at).order_by(TrustedKey.id))])
    return _digest(parts)


def mirrored_rows(session: Session, name: str) -> list[dict[str, Any]]:
    table, columns = MIRRORED[name]
    names = ("id", *columns)
    return [_row(table, r, names) for r in session.execute(select(*(table.c[n] for n in names)).order_by(table.c.id))]


def table_digests(session: Session) -> dict[str, str]:
    return {name: _digest(mirrored_rows(session, name)) for name in MIRRORED}


def build_feed(session: Session, *, after_event: int, after_audit: int, generation_seen: str | None,
               digests: dict[str, str], limit: int = BATCH) -> dict[str, Any]:
    """What the standby lacks after its newest event `after_event` and audit row `after_audit`, read in one
    snapshot of the database: at most `limit` events in log order, the state of every attempt they touch whose
    newest event is among them, the audit rows, and the mirrored tables whose digest differs from `digests`.
    A standby of another generation is told to take a whole copy instead."""
    session.rollback()  # one read transaction from here: events and attempts agree
    current = generation(session)
    head = session.scalar(select(func.max(_E.c.id))) or 0
    feed: dict[str, Any] = {"format": FORMAT, "generation": current, "head_event_id": head,
                            "primary_time": _out(dt.datetime.now(dt.UTC))}
    if generation_seen != current:
        feed["snapshot"] = True
        return feed
    rows = session.execute(select(*(_E.c[n] for n in EVENT_COLUMNS)).where(_E.c.id > after_event)
                           .order_by(_E.c.id).limit(limit)).all()
    events = [_row(_E, r, EVENT_COLUMNS) for r in rows]
    last: dict[int, str] = {}
    for e in events:
        last[e["attempt_id"]] = e["hash"]
    states = []
    if last:
        for r in session.execute(select(_A.c.id, *(_A.c[n] for n in STATE_COLUMNS)).where(_A.c.id.in_(last))):
            # Cut by the limit before this attempt's newest event: its state comes with the next batch.
            if r.last_event_hash == last[r.id]:
                states.append(_row(_A, r, ("id", *STATE_COLUMNS)))
    audit_rows = session.execute(select(_AUDIT).where(_AUDIT.c.id > after_audit).order_by(_AUDIT.c.id)
                                 .limit(limit)).all()
    feed.update(events=events, attempts=states, more=len(events) >= limit,
                audit=[_row(_AUDIT, r, tuple(c.name for c in _AUDIT.c)) for r in audit_rows])
    tables = {}
    for name in MIRRORED:
        rows_now = mirrored_rows(session, name)
        digest = _digest(rows_now)
        tables[name] = {"digest": digest, **({"rows": rows_now} if digests.get(name) != digest else {})}
    feed["tables"] = tables
    session.rollback()
    return feed


def snapshot(database: Path, target: Path) -> None:
    """A consistent copy of the SQLite file `database` at `target`, by SQLite's backup API in one step (one read
    transaction: writers go on meanwhile under WAL)."""
    target.unlink(missing_ok=True)
    source = sqlite3.connect(str(database), timeout=30)
    copy = sqlite3.connect(str(target))
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to send
    finally:
        copy.close()
        source.close()


# ------------------------------------------------------------------------------------------------ signed requests


def signed_text(method: str, path: str, at: int) -> bytes:
    return f"{method.upper()}\n{path}\n{at}".encode()


def sign_request(private_key: Any, method: str, path: str, at: int) -> str:
    """The header value a standby sends: its time and its signature over the method, the path with its query and
    that time, under the site's node key."""
    import base64

    return f"{at}.{base64.b64encode(sign(private_key, signed_text(method, path, at))).decode()}"


def check_request(public_keys: list[Any], header: str | None, method: str, path: str, now: float) -> None:
    """Nothing when `header` signs this request under one of `public_keys` within the time window; else refused."""
    import base64
    import binascii

    if not header or "." not in header:
        raise ReplicationError("需要备机签名（X-Standby-Signature）", code="unsigned", status=401)
    at_text, sig_text = header.split(".", 1)
    try:
        at, signature = int(at_text), base64.b64decode(sig_text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ReplicationError("备机签名格式不正确", code="bad_signature", status=401) from exc
    if abs(now - at) > SIGNATURE_WINDOW_S:
        raise ReplicationError("备机签名的时间与本机时钟相差超过 2 分钟（请核对两台机器的时钟）", code="stale_signature",
                               status=401)
    for key in public_keys:
        try:
            verify(key, signed_text(method, path, at), signature, what="备机请求")
            return
        except SigningError:
            continue
    raise ReplicationError("备机签名无效：不是本考点的节点密钥", code="bad_signature", status=403)


# ------------------------------------------------------------------------------------------------ at the standby


@dataclass
class Applied:
    """What one feed did on the standby."""

    events: int = 0
    attempts: int = 0
    answers: int = 0
    audit: int = 0
    tables: list[str] = field(default_factory=list)
    needs_snapshot: str = ""  # why a whole new copy is needed (empty: none)
    last_event: dict[str, Any] | None = None

    @property
    def nothing(self) -> bool:
        return not (self.events or self.attempts or self.answers or self.audit or self.tables)


def cursors(session: Session) -> tuple[int, int]:
    """The standby's newest event and audit row (the primary's ids: the copy began as the primary's database)."""
    return (session.scalar(select(func.max(_E.c.id))) or 0, session.scalar(select(func.max(_AUDIT.c.id))) or 0)


def _ticket_label(session: Session, attempt_id: int) -> str:
    number = session.scalar(select(Ticket.number).join(Attempt, Attempt.ticket_id == Ticket.id)
                            .where(Attempt.id == attempt_id))
    return f"准考证 {number} 的作答记录" if number else f"作答记录 {attempt_id}"


def apply_feed(session: Session, feed: dict[str, Any]) -> Applied:
    """Apply a feed in one transaction: events that continue each attempt's chain, the attempts' state, the answers
    the new events imply, audit rows and mirrored tables. What the standby has already is skipped, so the same feed
    twice changes nothing. Refused as a whole, naming the attempt and the event, when a chain does not continue."""
    if feed.get("format") != FORMAT:
        raise ReplicationError(f"复制数据的格式不是 {FORMAT}", code="bad_feed")
    done = Applied()
    if feed.get("snapshot"):
        done.needs_snapshot = "主机的考试数据（数据包、解封、账号或考场）有变化"
        return done
    session.rollback()
    with transaction(session):
        after_event, after_audit = cursors(session)
        fresh = [e for e in feed.get("events") or [] if e["id"] > after_event]
        by_attempt: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for e in fresh:
            by_attempt[e["attempt_id"]].append({**e, "at": _in(_E, "at", e["at"])})
        heads = dict(session.execute(select(_A.c.id, _A.c.last_event_hash).where(_A.c.id.in_(by_attempt))).all())
        missing = sorted(set(by_attempt) - set(heads))
        if missing:
            done.needs_snapshot = f"主机有本机没有的作答记录 {missing[:5]}"
            session.rollback()
            return done
        counts = dict(session.execute(select(_E.c.attempt_id, func.count()).where(_E.c.attempt_id.in_(by_attempt))
                                      .group_by(_E.c.attempt_id)).all())
        refs = item_refs(session, {e["item_version_id"] for e in fresh if e["item_version_id"] is not None})
        for attempt_id, events in by_attempt.items():
            report = verify_events(events, refs=refs, start=heads[attempt_id] or GENESIS,
                                   first=counts.get(attempt_id, 0) + 1)
            if report.broken is not None:
                raise ReplicationError(report.broken.message(_ticket_label(session, attempt_id)) + "，拒绝应用",
                                       code="broken_chain")
        connection = session.connection()
        if fresh:
            connection.execute(insert(_E), [{n: (_in(_E, n, e[n]) if n == "at" else e[n]) for n in EVENT_COLUMNS}
                                            for e in fresh])
            # Each attempt's head follows its newest event at once: a state cut off by the batch comes next time.
            connection.execute(update(_A).where(_A.c.id == bindparam("b_id"))
                               .values(last_event_hash=bindparam("b_head")),
                               [{"b_id": a, "b_head": events[-1]["hash"]} for a, events in by_attempt.items()])
            done.events = len(fresh)
            newest = fresh[-1]
            done.last_event = {"id": newest["id"], "kind": newest["kind"], "at": newest["at"],
                               "attempt_id": newest["attempt_id"]}
        done.answers = _merge_answers(session, by_attempt)
        done.attempts = _take_states(session, feed.get("attempts") or [])
        done.audit = _append_audit(session, feed.get("audit") or [], after_audit)
        done.tables = _mirror(session, feed.get("tables") or {})
    return done


def _merge_answers(session: Session, by_attempt: dict[int, list[dict[str, Any]]]) -> int:
    """The responses the new events imply, over the stored ones: a new applied save or flag always carries a
    higher seq than what the earlier log left (the primary applied it for that reason)."""
    wanted = {}
    for attempt_id, events in by_attempt.items():
        replayed = replay_answers([{**e, "item": e["item_version_id"]} for e in events])
        for item, answer in replayed.items():
            wanted[(attempt_id, item)] = answer
    if not wanted:
        return 0
    have = {(r.attempt_id, r.item_version_id): r for r in session.execute(
        select(_R.c.id, _R.c.attempt_id, _R.c.item_version_id).where(_R.c.attempt_id.in_({a for a, _ in wanted})))}
    connection = session.connection()
    for (attempt_id, item), answer in wanted.items():
        values: dict[str, Any] = {}
        if answer["seq"]:
            values.update(value=answer["value"], seq=answer["seq"], saved_at=answer["saved_at"])
        if answer["flag_seq"]:
            values.update(flagged=answer["flagged"], flag_seq=answer["flag_seq"])
        stored = have.get((attempt_id, item))
        if stored is None:
            connection.execute(insert(_R).values(attempt_id=attempt_id, item_version_id=item, **values))
        else:
            connection.execute(update(_R).where(_R.c.id == stored.id).values(**values))
    return len(wanted)


def _take_states(session: Session, states: list[dict[str, Any]]) -> int:
    changed = 0
    connection = session.connection()
    for state in states:
        values = {n: _in(_A, n, state[n]) for n in STATE_COLUMNS}
        # Only a state as new as the standby's copy of the log: an older feed applied again never turns it back.
        result = connection.execute(update(_A).where(_A.c.id == state["id"],
                                                     _A.c.last_event_hash == state["last_event_hash"]).values(**values))
        changed += result.rowcount or 0
    return changed


def _append_audit(session: Session, rows: list[dict[str, Any]], after: int) -> int:
    fresh = [{n: _in(_AUDIT, n, v) for n, v in r.items()} for r in rows if r["id"] > after]
    if fresh:
        session.connection().execute(insert(_AUDIT), fresh)
    return len(fresh)


def _mirror(session: Session, tables: dict[str, Any]) -> list[str]:
    changed = []
    connection = session.connection()
    for name, body in tables.items():
        if name not in MIRRORED or "rows" not in body:
            continue
        table, columns = MIRRORED[name]
        mine = {r["id"]: r for r in mirrored_rows(session, name)}
        for row in body["rows"]:
            if mine.get(row["id"]) == row:
                continue
            connection.execute(update(table).where(table.c.id == row["id"])
                               .values({n: _in(table, n, row[n]) for n in columns}))
            changed.append(f"{name}:{row['id']}")
    return changed

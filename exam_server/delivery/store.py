"""How delivery reads and writes its rows: the only module that knows SQL dialects.

What a whole room does at once (join, start, save, flag) runs as Core statements composed once at import:
building a statement per call cost more than running it. Each runs on the session's own connection. On
PostgreSQL the attempt's row is locked for the step's transaction (a statement of its own, sent with the read)
and a step's three writes are one statement; SQLite serialises writers itself and has no round trips to save,
and there the statements run prepared on the driver's connection (`item_bank.db.run_prepared`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import Integer, Row, String, bindparam, case, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from exam_server.delivery import chain
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.sessions.models import ExamSession, Seat, Ticket
from item_bank.db import (
    COMMIT_WITH_STATEMENT,
    SERVER_PREPARED,
    begin_write,
    read_one,
    run_direct,
    run_prepared,
    utcnow,
)
from item_bank.kernel import process_cache

_A, _R, _E = Attempt.__table__, Response.__table__, AttemptEvent.__table__
_S, _T, _SEAT = ExamSession.__table__, Ticket.__table__, Seat.__table__

_ATTEMPT_ID = bindparam("attempt", type_=Integer)
# An attempt's clock, workstation and seat (queries.AttemptState).
_STATE = (
    select(_A.c.id, _A.c.candidate_id, _A.c.status, _A.c.deadline_at, _A.c.remaining_s, _A.c.workstation,
           _A.c.pending_workstation, _A.c.last_seq, _A.c.last_activity_at, _A.c.answered_count, _A.c.started_at,
           _S.c.duration_s, _S.c.starts_at, _T.c.number.label("ticket"), _SEAT.c.number.label("seat"),
           _SEAT.c.room_id, _S.c.timing, _S.c.late_entry_min, _T.c.extra_time_s, _A.c.late_admitted_at,
           _A.c.last_event_hash, _S.c.min_submit_min)
    .select_from(_A.join(_S, _S.c.id == _A.c.session_id)
                 .join(_T, _T.c.id == _A.c.ticket_id)
                 .outerjoin(_SEAT, _SEAT.c.id == _T.c.seat_id))
    .where(_A.c.id == _ATTEMPT_ID)
)
# A start's state: the same row with what its paper is rendered from and whether the sitting's paper is still
# sealed, in the one read a whole room's start burst makes (a separate query for the seal and another for the
# paper were a third of a start with its paper).
_START_STATE = _STATE.add_columns(
    _S.c.paper_sealed, _A.c.form_id, _A.c.item_order, _A.c.option_orders, _A.c.submit_reason, _A.c.submit_note,
    _A.c.misconduct_code,
)
# What a save or flag checks: the attempt, the item's response and any earlier step with the same key.
_ITEM_STEP = (
    select(_A.c.candidate_id, _A.c.status, _A.c.deadline_at, _A.c.workstation, _A.c.form_id, _A.c.last_seq,
           _A.c.last_event_hash, _R.c.id.label("response_id"), _R.c.value, _R.c.seq.label("value_seq"), _R.c.flag_seq, _E.c.ack)
    .select_from(
        _A.outerjoin(_R, (_R.c.attempt_id == _A.c.id) & (_R.c.item_version_id == bindparam("item", type_=Integer)))
        .outerjoin(_E, (_E.c.attempt_id == _A.c.id) & (_E.c.key == bindparam("key", type_=String)))
    )
    .where(_A.c.id == _ATTEMPT_ID)
)
# On PostgreSQL a step's read takes the attempt's row lock in a statement of its own, sent with the read in one round
# trip. `FOR UPDATE OF attempt` on the read itself re-reads only the attempt row once a wait for the lock ends: the
# joined rows (the item's response, the ticket) come from the snapshot taken before the wait, so a save of seq 3
# that waited for a save of seq 4 read the response without it and wrote seq 3 over it. A statement that begins
# after the lock is granted sees everything the holder committed (READ COMMITTED takes a snapshot per statement).
_LOCK_ATTEMPT = "SELECT id FROM attempt WHERE id = :attempt FOR UPDATE;\n"
_LOCKED_READS = process_cache("delivery.locked_reads")


def _locked_read(statement: Any, dialect: Any) -> Any:
    """`statement` after the attempt's row lock, as one text of two statements; its columns keep their types."""
    locked = _LOCKED_READS.get(id(statement))
    if locked is None:
        named = type(dialect)(paramstyle="named")  # :name placeholders, as text() takes them
        sql = str(statement.compile(dialect=named))
        locked = text(_LOCK_ATTEMPT + sql).columns(*statement.selected_columns)
        _LOCKED_READS[id(statement)] = locked
    return locked
_PREVIOUS_ACK = select(_E.c.ack).where(_E.c.attempt_id == _ATTEMPT_ID, _E.c.key == bindparam("key", type_=String))
_ANSWERS = select(_R.c.item_version_id, _R.c.value, _R.c.seq, _R.c.saved_at, _R.c.flagged).where(
    _R.c.attempt_id == _ATTEMPT_ID
)
_INSERT_EVENT = insert(_E)
_INSERT_RESPONSE = insert(_R)
# Executed with the changed columns by name and the row's id as `b_id`.
_UPDATE_ATTEMPT = update(_A).where(_A.c.id == bindparam("b_id"))
_UPDATE_RESPONSE = update(_R).where(_R.c.id == bindparam("b_id"))
_STEP_SEQ = bindparam("b_seq", type_=Integer)
_TOUCH_AFTER_STEP = (
    update(_A).where(_A.c.id == bindparam("b_id")).values(
        last_activity_at=bindparam("b_at", type_=_A.c.last_activity_at.type),
        last_seq=case((_A.c.last_seq < _STEP_SEQ, _STEP_SEQ), else_=_A.c.last_seq),
        answered_count=_A.c.answered_count + bindparam("b_delta", type_=Integer),
        last_event_hash=bindparam("b_head", type_=String),
    )
)


# PostgreSQL runs a step's three writes (response, log row, counters) as one statement with
# data-modifying CTEs: under a reconnect storm every round trip waits a turn of the server's event
# loop, and a save used to make seven. SQLite has no such CTEs and no round trips to save.
_STEP_EVENT = insert(_E).values(
    attempt_id=bindparam("b_id"), at=bindparam("b_at"), kind=bindparam("e_kind"), actor=bindparam("e_actor"),
    item_version_id=bindparam("e_item"), seq=bindparam("b_seq"), key=bindparam("e_key"),
    payload=bindparam("e_payload", type_=_E.c.payload.type), ack=bindparam("e_ack", type_=_E.c.ack.type),
    prev_hash=bindparam("e_prev", type_=String), hash=bindparam("b_head", type_=String),
).cte("step_event")
RESPONSE_COLUMNS = ("value", "seq", "saved_at", "flagged", "flag_seq")
_NEW_RESPONSE: dict[str, Any] = {"value": None, "seq": 0, "saved_at": None, "flagged": False, "flag_seq": 0}
# Composed statements by shape (a handful): no ids in the key, so clearing it only costs a recompose.
_STEP_WRITES = process_cache("delivery.step_writes")


def _step_writes(insert_response: bool, columns: tuple[str, ...]) -> Any:
    """The one statement of a step's writes on PostgreSQL, for a new response row (all columns) or
    a change of `columns` of an existing one (none: the step changes no answer)."""
    shape = (True, RESPONSE_COLUMNS) if insert_response else (False, columns)  # a new row has every column
    statement = _STEP_WRITES.get(shape)
    if statement is None:
        statement = _TOUCH_AFTER_STEP.add_cte(_STEP_EVENT)
        if insert_response:
            values = {c: bindparam(f"r_{c}", type_=_R.c[c].type) for c in RESPONSE_COLUMNS}
            statement = statement.add_cte(insert(_R).values(
                attempt_id=bindparam("b_id"), item_version_id=bindparam("e_item"), **values).cte("step_response"))
        elif columns:
            values = {c: bindparam(f"r_{c}", type_=_R.c[c].type) for c in columns}
            statement = statement.add_cte(
                update(_R).where(_R.c.id == bindparam("r_id")).values(**values).cte("step_response"))
        _STEP_WRITES[shape] = statement
    return statement


# ---------------------------------------------------------------- the session's connection


def commit_core(session: Session) -> None:
    """Commit what the prepared statements wrote, and forget any ORM copy of what they changed.

    An event's session is new and holds nothing; a longer-lived one (a test, a CLI) may hold the
    attempt or its responses from before, which would otherwise shadow the new rows.
    """
    session.commit()
    session.expire_all()


def _connection(session: Session) -> Connection:
    """The session's connection in its current transaction."""
    # Session.connection() walks the session's transaction machinery on every call; within one
    # transaction it is always the same connection, so it is looked up once.
    connection = session.info.get("delivery.connection")
    if connection is None or connection.closed or not connection.in_transaction():
        connection = session.info["delivery.connection"] = session.connection()
    return connection


# On PostgreSQL every statement here runs prepared on its connection (`item_bank.db.SERVER_PREPARED`): they are
# composed once, at import, and a whole room runs them at once.
_STEP_STATEMENT = {SERVER_PREPARED: True}
_ENDS_TRANSACTION = {SERVER_PREPARED: True, COMMIT_WITH_STATEMENT: True}


def _run(session: Session, statement: Any, params: dict[str, Any], *, lock: bool = False,
         last: bool = False, direct: bool = False) -> Any:
    """Run a prepared statement on the session's connection; `lock` (a step that will write) takes the attempt
    row on PostgreSQL and, when it opens the transaction, SQLite's write lock. `last`: the transaction's last
    statement, whose COMMIT PostgreSQL gets with it (the caller commits the session next). `direct` (with `lock`):
    on SQLite the step runs in a direct write (`item_bank.db.DirectWriteSession`), as does every statement after
    it until the session commits or rolls back."""
    rows = run_direct(session, statement, params, begin=direct)
    if rows is not None:
        return rows
    if lock:
        begin_write(session)
    connection = _connection(session)
    if connection.dialect.name == "sqlite":  # SQLite serialises writers itself, and takes them prepared
        rows = run_prepared(connection, statement, params)
        if rows is not None:
            return rows
    elif lock:
        statement = _locked_read(statement, connection.dialect)
    return connection.execute(statement, params, execution_options=_ENDS_TRANSACTION if last else _STEP_STATEMENT)


# ---------------------------------------------------------------- reads


def state_row(session: Session, attempt_id: int, *, lock: bool = False) -> Row[Any] | None:
    """The row of `queries.AttemptState`, the attempt locked for this transaction on PostgreSQL if `lock`."""
    return _run(session, _STATE, {"attempt": attempt_id}, lock=lock).one_or_none()


def unlocked_state_row(session: Session, attempt_id: int) -> Row[Any] | None:
    """`state_row` read by itself, outside any transaction (`item_bank.db.read_one`): what a rejoin that will write
    nothing reads. One statement and one round trip; no lock taken, so nothing to commit."""
    return read_one(session.get_bind(), _STATE, {"attempt": attempt_id})


def start_state_row(session: Session, attempt_id: int) -> Row[Any] | None:
    """`state_row` with the paper's columns and the sitting's seal (`queries.AttemptState`), the attempt locked; on
    SQLite in a direct write, as a save's, so a room's starts share the group commits of the saves around them."""
    return _run(session, _START_STATE, {"attempt": attempt_id}, lock=True, direct=True).one_or_none()


def item_step_row(session: Session, attempt_id: int, item_id: int, key: str | None) -> Row[Any] | None:
    """The locked attempt with its response to `item_id` and the acknowledgement of an earlier `key`."""
    return _run(session, _ITEM_STEP, {"attempt": attempt_id, "item": item_id, "key": key}, lock=True,
                direct=True).one_or_none()


def answer_rows(session: Session, attempt_id: int) -> Any:
    """The attempt's responses: item, value, seq, saved_at, flagged."""
    return _run(session, _ANSWERS, {"attempt": attempt_id})


def lock_attempt(session: Session, attempt_id: int) -> Attempt | None:
    """The attempt as an ORM object, locked for this transaction on PostgreSQL (on SQLite, when this opens the
    transaction, it holds the write lock from here)."""
    begin_write(session)
    return session.get(Attempt, attempt_id, with_for_update=True, populate_existing=True)


def previous_ack(session: Session, attempt_id: int, key: str | None) -> dict[str, Any] | None:
    """The acknowledgement an earlier step with `key` got, if any."""
    if not key:
        return None
    ack = _run(session, _PREVIOUS_ACK, {"attempt": attempt_id, "key": key}).scalar()
    return dict(ack) if ack is not None else None


# ---------------------------------------------------------------- writes


def log_event(
    session: Session,
    attempt: Attempt,
    kind: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    at: dt.datetime | None = None,
) -> AttemptEvent:
    """Append an event to an ORM attempt's log (the rarer paths: submit, the proctor's verbs)."""
    event = AttemptEvent(attempt_id=attempt.id, kind=kind, actor=actor, payload=payload or {}, key=key,
                         at=at or utcnow())
    session.add(event)
    return event


class _Chained(Protocol):
    id: int
    last_event_hash: str


def log_row(session: Session, state: _Chained, kind: str, actor: str, payload: dict[str, Any],
            at: dt.datetime, changes: dict[str, Any], *, key: str | None = None,
            ack: dict[str, Any] | None = None) -> None:
    """Append an event to the log by a prepared statement (join, start, submit), chained after `state`'s newest
    hash; the new head goes into `changes`, the attempt columns the caller writes next in the same transaction.
    A step's idempotency `key` is stored with its acknowledgement `ack`."""
    prev = state.last_event_hash or chain.GENESIS
    head = chain.link(prev, kind, actor, at, None, None, key, payload)
    _run(session, _INSERT_EVENT, {"attempt_id": state.id, "kind": kind, "actor": actor, "payload": payload,
                                  "at": at, "item_version_id": None, "seq": None, "key": key, "ack": ack,
                                  "prev_hash": prev, "hash": head})
    state.last_event_hash = changes["last_event_hash"] = head


def update_attempt(session: Session, attempt_id: int, changes: dict[str, Any], *, last: bool = False) -> None:
    """Set `changes` (columns by name) on the attempt's row; `last`: the transaction's last statement (the caller
    commits next), which PostgreSQL gets with its COMMIT."""
    _run(session, _UPDATE_ATTEMPT, {"b_id": attempt_id, **changes}, last=last)


def write_item_step(
    session: Session, *, attempt_id: int, item_id: int, seq: int, key: str, now: dt.datetime,
    response_id: int | None, kind: str, actor: str, payload: dict[str, Any], ack: dict[str, Any],
    response: dict[str, Any], answered_delta: int, prev_hash: str,
) -> None:
    """A save's or flag's writes: the response change (`response`: its changed columns, none for a step
    that changes no answer), the log row with its acknowledgement, and the attempt's counters; committed.

    The log row is chained after `prev_hash`, the attempt's newest hash read with its lock.
    Raises IntegrityError when the step's key was taken meanwhile (a concurrent resend).
    """
    prev = prev_hash or chain.GENESIS
    head = chain.link(prev, kind, actor, now, chain.item_ref(session, item_id), seq, key, payload)
    if session.get_bind().dialect.name == "postgresql":
        columns = tuple(c for c in RESPONSE_COLUMNS if c in response)
        full = {**_NEW_RESPONSE, **response}
        _run(session, _step_writes(bool(response) and response_id is None, columns), {
            "b_id": attempt_id, "b_at": now, "b_seq": seq, "b_delta": answered_delta,
            "e_kind": kind, "e_actor": actor, "e_item": item_id, "e_key": key,
            "e_payload": payload, "e_ack": ack, "r_id": response_id, "e_prev": prev, "b_head": head,
            **{f"r_{c}": v for c, v in full.items()},
        }, last=True)
        commit_core(session)
        return
    if response and response_id is None:
        _run(session, _INSERT_RESPONSE, {"attempt_id": attempt_id, "item_version_id": item_id,
                                         **_NEW_RESPONSE, **response})
    elif response:
        _run(session, _UPDATE_RESPONSE, {"b_id": response_id, **response})
    _run(session, _INSERT_EVENT, {
        "attempt_id": attempt_id, "at": now, "kind": kind, "actor": actor,
        "item_version_id": item_id, "seq": seq, "key": key, "payload": payload, "ack": ack,
        "prev_hash": prev, "hash": head,
    })
    _run(session, _TOUCH_AFTER_STEP, {"b_id": attempt_id, "b_at": now, "b_seq": seq, "b_delta": answered_delta,
                                      "b_head": head})
    commit_core(session)

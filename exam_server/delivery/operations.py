"""The verbs of exam delivery: prepare, check in, join, start, save, flag, submit, and the clock.

The server owns time: a running attempt has a stored `deadline_at`; a paused or not yet started
one has `remaining_s`. Every step is appended to the attempt's event log in the same transaction
as the change it makes, and a candidate's acknowledgement is only ever built after that commit.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Integer, String, bindparam, case, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam_server.delivery.models import (
    CHECKED_IN,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    SCORED,
    SUBMITTED,
    Attempt,
    AttemptEvent,
    Response,
)
from exam_server.delivery.states import check_transition
from exam_server.sessions.models import ExamSession, Seat, Ticket
from item_bank.db import utcnow
from item_bank.models import FormItem, ItemSet, ItemVersion
from item_bank.types import ItemContent, item_type

# Stable error codes of the wire protocol (DESIGN.md §7) with the sentence the candidate reads.
MESSAGES = {
    "not_your_attempt": "这不是您的考试。",
    "not_in_progress": "考试当前不在进行中。",
    "not_started": "考试尚未开始。",
    "not_checked_in": "您尚未经监考员核验入场，请举手示意监考员。",
    "deadline_passed": "考试时间已到，答案已自动交卷，此次修改未被保存。",
    "paused": "考试已暂停，请等待监考员恢复考试。",
    "invalid_value": "答案格式不正确。",
    "unknown_item": "本试卷中没有这道题。",
    "moved": "您的考试已转移到另一台电脑上继续。",
    "awaiting_move": "您的考试正在另一台电脑上进行。请举手，监考员确认后才能在这台电脑上继续。",
    "submitted": "您已交卷。",
}


class DeliveryError(Exception):
    """A refusal the candidate's screen can show: a stable `code` and a Chinese `message`."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or MESSAGES.get(code, code))
        self.code = code
        self.message = message or MESSAGES.get(code, code)

    def ack(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, "message": self.message}


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# ---------------------------------------------------------------- time


def remaining_seconds(attempt: Attempt | AttemptState, now: dt.datetime | None = None) -> float:
    """Seconds left: from the deadline while running, else the stored remainder."""
    if attempt.status == IN_PROGRESS and attempt.deadline_at is not None:
        now = now or utcnow()
        return max(0.0, (attempt.deadline_at - now).total_seconds())
    if attempt.status in (SUBMITTED, SCORED) or attempt.status == "finalised":
        return 0.0
    return max(0.0, attempt.remaining_s)


class _Clocked(Protocol):
    """What the checks below read of an attempt: an ORM attempt, an `AttemptState` or a row."""

    status: str
    deadline_at: dt.datetime | None
    workstation: str | None


def _is_overdue(attempt: _Clocked, now: dt.datetime) -> bool:
    return attempt.status == IN_PROGRESS and attempt.deadline_at is not None and now >= attempt.deadline_at


# ---------------------------------------------------------------- events

_ATTEMPT = Attempt.__table__
_RESPONSE = Response.__table__
_EVENT = AttemptEvent.__table__

# The statements of what a whole room does at once (join, start, save, flag), composed once: building
# a statement per call cost more than running it. Each runs on the session's own connection.
_A, _R, _E = _ATTEMPT, _RESPONSE, _EVENT
_ATTEMPT_ID = bindparam("attempt", type_=Integer)
_STATE = (
    select(_A.c.id, _A.c.candidate_id, _A.c.status, _A.c.deadline_at, _A.c.remaining_s, _A.c.workstation,
           _A.c.pending_workstation, _A.c.last_seq, _A.c.last_activity_at, _A.c.answered_count, _A.c.started_at,
           ExamSession.__table__.c.duration_s, ExamSession.__table__.c.starts_at,
           Ticket.__table__.c.number.label("ticket"), Seat.__table__.c.number.label("seat"),
           Seat.__table__.c.room_id)
    .select_from(_A.join(ExamSession.__table__, ExamSession.__table__.c.id == _A.c.session_id)
                 .join(Ticket.__table__, Ticket.__table__.c.id == _A.c.ticket_id)
                 .outerjoin(Seat.__table__, Seat.__table__.c.id == Ticket.__table__.c.seat_id))
    .where(_A.c.id == _ATTEMPT_ID)
)
_ITEM_STEP = (
    select(_A.c.candidate_id, _A.c.status, _A.c.deadline_at, _A.c.workstation, _A.c.form_id, _A.c.last_seq,
           _R.c.id.label("response_id"), _R.c.value, _R.c.seq.label("value_seq"), _R.c.flag_seq, _E.c.ack)
    .select_from(
        _A.outerjoin(_R, (_R.c.attempt_id == _A.c.id) & (_R.c.item_version_id == bindparam("item", type_=Integer)))
        .outerjoin(_E, (_E.c.attempt_id == _A.c.id) & (_E.c.key == bindparam("key", type_=String)))
    )
    .where(_A.c.id == _ATTEMPT_ID)
)
_LOCKED = {id(_STATE): _STATE.with_for_update(of=_A), id(_ITEM_STEP): _ITEM_STEP.with_for_update(of=_A)}
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
    )
)


# PostgreSQL runs a step's three writes (response, log row, counters) as one statement with
# data-modifying CTEs: under a reconnect storm every round trip waits a turn of the server's event
# loop, and a save used to make seven. SQLite has no such CTEs and no round trips to save.
_STEP_EVENT = insert(_E).values(
    attempt_id=bindparam("b_id"), at=bindparam("b_at"), kind=bindparam("e_kind"), actor=bindparam("e_actor"),
    item_version_id=bindparam("e_item"), seq=bindparam("b_seq"), key=bindparam("e_key"),
    payload=bindparam("e_payload", type_=_E.c.payload.type), ack=bindparam("e_ack", type_=_E.c.ack.type),
).cte("step_event")
_RESPONSE_COLUMNS = ("value", "seq", "saved_at", "flagged", "flag_seq")
_NEW_RESPONSE: dict[str, Any] = {"value": None, "seq": 0, "saved_at": None, "flagged": False, "flag_seq": 0}
_STEP_WRITES: dict[tuple[bool, tuple[str, ...]], Any] = {}


def _step_writes(insert_response: bool, columns: tuple[str, ...]) -> Any:
    """The one statement of a step's writes on PostgreSQL, for a new response row (all columns) or
    a change of `columns` of an existing one (none: the step changes no answer)."""
    shape = (True, _RESPONSE_COLUMNS) if insert_response else (False, columns)  # a new row has every column
    statement = _STEP_WRITES.get(shape)
    if statement is None:
        statement = _TOUCH_AFTER_STEP.add_cte(_STEP_EVENT)
        if insert_response:
            values = {c: bindparam(f"r_{c}", type_=_R.c[c].type) for c in _RESPONSE_COLUMNS}
            statement = statement.add_cte(insert(_R).values(
                attempt_id=bindparam("b_id"), item_version_id=bindparam("e_item"), **values).cte("step_response"))
        elif columns:
            values = {c: bindparam(f"r_{c}", type_=_R.c[c].type) for c in columns}
            statement = statement.add_cte(
                update(_R).where(_R.c.id == bindparam("r_id")).values(**values).cte("step_response"))
        _STEP_WRITES[shape] = statement
    return statement


def _commit_core(session: Session) -> None:
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


def _run(session: Session, statement: Any, params: dict[str, Any], *, lock: bool = False) -> Any:
    """Run a prepared statement on the session's connection; `lock` takes the attempt row on PostgreSQL."""
    connection = _connection(session)
    if lock and connection.dialect.name != "sqlite":  # SQLite serialises writers itself
        statement = _LOCKED[id(statement)]
    return connection.execute(statement, params)


def _log(
    session: Session,
    attempt: Attempt,
    kind: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    *,
    item_version_id: int | None = None,
    seq: int | None = None,
    key: str | None = None,
    at: dt.datetime | None = None,
) -> AttemptEvent:
    event = AttemptEvent(
        attempt_id=attempt.id,
        kind=kind,
        actor=actor,
        payload=payload or {},
        item_version_id=item_version_id,
        seq=seq,
        key=key,
        at=at or utcnow(),
    )
    session.add(event)
    return event


def _lock_attempt(session: Session, attempt_id: int) -> Attempt | None:
    """The attempt row, locked for this transaction on PostgreSQL (SQLite serialises writers itself)."""
    return session.get(Attempt, attempt_id, with_for_update=True, populate_existing=True)


def _previous_ack(session: Session, attempt_id: int, key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    return session.scalar(
        select(AttemptEvent.ack).where(AttemptEvent.attempt_id == attempt_id, AttemptEvent.key == key)
    )


# ---------------------------------------------------------------- preparing a session


def prepare_attempts(session: Session, exam_session: ExamSession, actor: str) -> int:
    """Create the attempt of every ticket of `exam_session` that has none yet; returns how many.

    Form, item order and option order are fixed here from a stored seed, so that starting an
    exam costs nothing and any candidate's screen can be reproduced.
    """
    from item_bank.forms import candidate_order

    forms = [sf.form for sf in exam_session.forms]
    if not forms:
        raise DeliveryError("no_forms", f"考试场次 {exam_session.code} 还没有指定试卷。")
    for form in forms:
        if form.status != "locked":
            raise DeliveryError("form_not_locked", f"试卷 {form.code} 尚未锁定，不能用于考试。")
    have = set(session.scalars(select(Attempt.ticket_id).where(Attempt.session_id == exam_session.id)))
    tickets = session.scalars(
        select(Ticket).where(Ticket.session_id == exam_session.id).order_by(Ticket.number)
    ).all()
    rng = random.SystemRandom()
    created = 0
    per_form: dict[int, int] = {}
    for index, ticket in enumerate(tickets):
        if ticket.id in have:
            continue
        form = forms[index % len(forms)]
        per_form[form.id] = per_form.get(form.id, 0) + 1
        seed = rng.randrange(1, 2**31 - 1)
        order, option_orders = candidate_order(form, seed)
        session.add(
            Attempt(
                ticket_id=ticket.id,
                session_id=exam_session.id,
                candidate_id=ticket.candidate_id,
                form_id=form.id,
                seed=seed,
                item_order=list(order),
                option_orders={str(k): v for k, v in option_orders.items()},
                remaining_s=float(exam_session.duration_s),
            )
        )
        created += 1
    session.flush()
    # Exposure: every candidate given a form sees each of its items once (assembly limits on it).
    for form_id, n in per_form.items():
        form_version_ids = select(FormItem.item_version_id).where(FormItem.form_id == form_id)
        session.execute(
            update(ItemVersion).where(ItemVersion.id.in_(form_version_ids))
            .values(exposure_count=ItemVersion.exposure_count + n)
        )
    from item_bank.audit import audit

    audit(session, actor, "prepare_attempts", "exam_session", exam_session.id,
          after={"created": created, "per_form": {str(k): v for k, v in per_form.items()}})
    session.commit()
    return created


def check_in(session: Session, attempt: Attempt, actor: str) -> Attempt:
    """Admit the candidate to their seat (the proctor has confirmed identity)."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.status != SCHEDULED:
        return attempt
    check_transition("check_in", attempt.status, CHECKED_IN)
    attempt.status = CHECKED_IN
    attempt.checked_in_at = utcnow()
    _log(session, attempt, "checked_in", actor)
    session.commit()
    return attempt


# ---------------------------------------------------------------- what the candidate sees


@dataclass(frozen=True)
class _FrozenItem:
    item_version_id: int
    content: ItemContent
    points: float
    scoring_rule: str
    section: str
    # The shared stimulus of an item set (情景 / 案例): {"id", "title", "text", "media"}.
    stimulus: dict[str, Any] | None = None
    # The item as candidates see it, by option order: rendered once per process for a whole room
    # (it lives and dies with the cached form, and a locked form never changes).
    views: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    encoded: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def media_digests(self) -> set[str]:
        refs = list(self.content.media) + list((self.stimulus or {}).get("media") or [])
        return {str(m.get("sha256")) for m in refs if m.get("sha256")}


_FORM_CACHE: dict[tuple[str, int], dict[int, _FrozenItem]] = {}


def clear_form_cache() -> None:
    """Forget cached forms (only needed when a database is emptied and ids start again)."""
    _FORM_CACHE.clear()


def form_items(session: Session, form_id: int) -> dict[int, _FrozenItem]:
    """The form's items by version id. Locked forms never change, so they are cached per process."""
    cache_key = (str(session.get_bind().url), form_id)
    cached = _FORM_CACHE.get(cache_key)
    if cached is not None:
        return cached
    rows = session.execute(
        select(FormItem, ItemVersion, ItemSet)
        .join(ItemVersion, FormItem.item_version_id == ItemVersion.id)
        .outerjoin(ItemSet, ItemVersion.item_set_id == ItemSet.id)
        .where(FormItem.form_id == form_id)
    ).all()
    items = {
        version.id: _FrozenItem(
            item_version_id=version.id,
            content=ItemContent(
                type=version.type, stem=version.stem, content=version.content, key=version.key, points=fi.points,
                media=list(version.media or []),
            ),
            points=fi.points,
            scoring_rule=fi.scoring_rule,
            section=fi.section,
            stimulus=(
                {"id": item_set.id, "title": item_set.title, "text": item_set.stimulus,
                 "media": list(item_set.media or [])}
                if item_set is not None else None
            ),
        )
        for fi, version, item_set in rows
    }
    from item_bank.models import Form

    form = session.get(Form, form_id)
    if form is not None and form.status == "locked":
        _FORM_CACHE[cache_key] = items
    return items


def _attempt_head(attempt: Attempt, now: dt.datetime) -> dict[str, Any]:
    return {
        "attempt_id": attempt.id,
        "status": attempt.status,
        "remaining_s": round(remaining_seconds(attempt, now), 3),
        "server_now": iso(now),
        "items": [],
    }


def _base_view(frozen: _FrozenItem, order: list[str] | None) -> dict[str, Any]:
    """The item as candidates with this option order see it (rendered once per process)."""
    base = frozen.views.get(tuple(order or ()))
    if base is None:
        base = item_type(frozen.content.type).render(frozen.content, order)
        base.update(item_id=frozen.item_version_id, points=frozen.points, section=frozen.section)
        frozen.views[tuple(order or ())] = base
    return base


def _is_attempt_specific(frozen: _FrozenItem, base: dict[str, Any]) -> bool:
    """Image addresses are the attempt's own, so an item with images is rendered per attempt."""
    return bool(base.get("media")) or frozen.stimulus is not None


def _item_view(frozen: _FrozenItem, base: dict[str, Any], attempt_id: int, number: int) -> dict[str, Any]:
    view = dict(base, number=number)
    if "media" in base:
        view["media"] = [dict(ref, url=media_url(attempt_id, ref["sha256"])) for ref in base["media"]]
    if frozen.stimulus is not None:
        view["stimulus"] = {
            "id": frozen.stimulus["id"], "title": frozen.stimulus["title"], "text": frozen.stimulus["text"],
            "media": [{"name": m.get("name", ""), "url": media_url(attempt_id, str(m.get("sha256")))}
                      for m in frozen.stimulus["media"] if m.get("sha256")],
        }
    return view


def render_attempt(session: Session, attempt: Attempt, now: dt.datetime | None = None) -> dict[str, Any]:
    """`GET /api/attempt`: the items in the candidate's order, without any key, only while in progress."""
    body = _attempt_head(attempt, now or utcnow())
    if attempt.status != IN_PROGRESS:
        return body
    items = form_items(session, attempt.form_id)
    for number, version_id in enumerate(attempt.item_order, start=1):
        frozen = items[version_id]
        base = _base_view(frozen, attempt.option_orders.get(str(version_id)))
        body["items"].append(_item_view(frozen, base, attempt.id, number))
    return body


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render_attempt_json(session: Session, attempt: Attempt, now: dt.datetime | None = None) -> str:
    """`render_attempt` as JSON text, built from item fragments encoded once per process.

    The whole room asks for its paper in the same minute (the start burst); encoding a 100-item
    paper per candidate was most of that burst's cost, and each item's text is the same for every
    candidate who sees its options in the same order.
    """
    head = _attempt_head(attempt, now or utcnow())
    if attempt.status != IN_PROGRESS:
        return _compact(head)
    items = form_items(session, attempt.form_id)
    parts = []
    for number, version_id in enumerate(attempt.item_order, start=1):
        frozen = items[version_id]
        order = attempt.option_orders.get(str(version_id))
        base = _base_view(frozen, order)
        if _is_attempt_specific(frozen, base):
            parts.append(_compact(_item_view(frozen, base, attempt.id, number)))
            continue
        fragment = frozen.encoded.get(tuple(order or ()))
        if fragment is None:  # the view without its opening brace, to follow the candidate's number
            fragment = frozen.encoded[tuple(order or ())] = _compact(base)[1:]
        parts.append(f'{{"number":{number},{fragment}')
    encoded = _compact(head)
    assert encoded.endswith('"items":[]}')
    return encoded[:-2] + ",".join(parts) + "]}"


def media_url(attempt_id: int, digest: str) -> str:
    return f"/api/attempts/{attempt_id}/media/{digest}"


def attempt_may_show(session: Session, attempt: Attempt, digest: str) -> bool:
    """True when the image `digest` belongs to an item of this attempt's form and the attempt is running."""
    if attempt.status != IN_PROGRESS:
        return False
    return any(digest in frozen.media_digests for frozen in form_items(session, attempt.form_id).values())


def answers_of(session: Session, attempt_id: int) -> tuple[dict[str, Any], list[int]]:
    """The acknowledged answers {item_id: {value, seq, saved_at}} and the flagged item ids."""
    answers: dict[str, Any] = {}
    flags: list[int] = []
    for r in _run(session, _ANSWERS, {"attempt": attempt_id}):
        if r.seq:
            answers[str(r.item_version_id)] = {"value": r.value, "seq": r.seq, "saved_at": iso(r.saved_at)}
        if r.flagged:
            flags.append(r.item_version_id)
    return answers, sorted(flags)


JOIN_TOUCH_S = 60.0


@dataclass
class AttemptState:
    """An attempt's clock, workstation and seat as one query reads them.

    Joining and starting are what a whole room does at once (the start of the sitting, everyone
    reconnecting after a server restart), so those paths read this instead of ORM objects.
    """

    id: int
    candidate_id: int
    status: str
    deadline_at: dt.datetime | None
    remaining_s: float
    workstation: str | None
    pending_workstation: str | None
    last_seq: int
    last_activity_at: dt.datetime | None
    answered_count: int
    started_at: dt.datetime | None
    duration_s: int
    starts_at: dt.datetime
    ticket: str
    seat: int | None
    room_id: int | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptState:
        """The state of an ORM attempt (the rarer proctor paths hold one already)."""
        seat = attempt.ticket.seat
        return cls(
            id=attempt.id, candidate_id=attempt.candidate_id, status=attempt.status, deadline_at=attempt.deadline_at,
            remaining_s=attempt.remaining_s, workstation=attempt.workstation,
            pending_workstation=attempt.pending_workstation, last_seq=attempt.last_seq,
            last_activity_at=attempt.last_activity_at, answered_count=attempt.answered_count,
            started_at=attempt.started_at, duration_s=attempt.session.duration_s,
            starts_at=attempt.session.starts_at, ticket=attempt.ticket.number,
            seat=seat.number if seat else None, room_id=seat.room_id if seat else None,
        )


def attempt_state(session: Session, attempt_id: int, *, lock: bool = False) -> AttemptState | None:
    """The state of attempt `attempt_id`, its row locked for this transaction on PostgreSQL if `lock`."""
    row = _run(session, _STATE, {"attempt": attempt_id}, lock=lock).one_or_none()
    return AttemptState(**row._asdict()) if row is not None else None


def _own_state(session: Session, attempt_id: Any, candidate_id: int | None) -> AttemptState:
    """The locked state of the candidate's own attempt, or `not_your_attempt`."""
    state = attempt_state(session, attempt_id, lock=True) if isinstance(attempt_id, int) else None
    if state is None or (candidate_id is not None and state.candidate_id != candidate_id):
        raise DeliveryError("not_your_attempt")
    return state


def _submit_if_overdue(session: Session, state: AttemptState, now: dt.datetime) -> AttemptState:
    """Submit an attempt whose clock ran out (as of its deadline) and return its new state."""
    if not _is_overdue(state, now):
        return state
    attempt = _lock_attempt(session, state.id)
    assert attempt is not None
    _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
    session.flush()
    return AttemptState.of(attempt)


def _require_workstation(attempt: _Clocked, workstation: str | None) -> None:
    if workstation is not None and attempt.workstation and attempt.workstation != workstation:
        raise DeliveryError("moved")


def _log_row(session: Session, attempt_id: int, kind: str, actor: str, payload: dict[str, Any],
             at: dt.datetime) -> None:
    _run(session, _INSERT_EVENT, {"attempt_id": attempt_id, "kind": kind, "actor": actor, "payload": payload, "at": at,
                                  "item_version_id": None, "seq": None, "key": None, "ack": None})


def join(
    session: Session, attempt_id: int, workstation: str, actor: str, candidate_id: int | None = None
) -> tuple[dict[str, Any], AttemptState, bool]:
    """A workstation opens the attempt: its state, acknowledged answers and flags, the seat's state, and
    whether the seat map has anything new to show (a plain reconnect of the same workstation has not).

    One workstation at a time: a different one is held (`awaiting_move`) until a proctor allows it.
    `candidate_id`, when given, must own the attempt.
    """
    now = utcnow()
    before = _own_state(session, attempt_id, candidate_id)
    state = _submit_if_overdue(session, before, now)
    seat_changed = state is not before
    active = state.status in (CHECKED_IN, IN_PROGRESS, PAUSED)
    changes: dict[str, Any] = {}
    if active and state.workstation and state.workstation != workstation:
        if state.pending_workstation != workstation:
            state.pending_workstation = workstation
            _run(session, _UPDATE_ATTEMPT, {"b_id": state.id, "pending_workstation": workstation})
            _log_row(session, state.id, "move_requested", actor, {"workstation": workstation[:12]}, now)
        _commit_core(session)
        raise DeliveryError("awaiting_move")
    if active and state.workstation != workstation:
        state.workstation = changes["workstation"] = workstation
        seat_changed = True
        _log_row(session, state.id, "workstation", actor, {"workstation": workstation[:12]}, now)
    # A rejoin (a reconnect after a network blip or a server restart) only refreshes a stale activity
    # time: a whole room rejoining at once then costs reads, not one disk sync per candidate.
    if state.last_activity_at is None or (now - state.last_activity_at).total_seconds() > JOIN_TOUCH_S:
        state.last_activity_at = changes["last_activity_at"] = now
    if changes:
        _run(session, _UPDATE_ATTEMPT, {"b_id": state.id, **changes})
    answers, flags = answers_of(session, state.id)
    _commit_core(session)
    body = {
        "ok": True,
        "attempt_id": state.id,
        "status": state.status,
        "remaining_s": round(remaining_seconds(state, now), 3),
        "duration_s": state.duration_s,
        "server_now": iso(now),
        "last_seq": state.last_seq,
        "answers": answers,
        "flags": flags,
    }
    return body, state, seat_changed


def start(
    session: Session, attempt_id: int, actor: str, workstation: str | None = None, candidate_id: int | None = None
) -> tuple[dict[str, Any], AttemptState]:
    """The candidate has read the instructions: start the clock (a repeat is harmless)."""
    state = _own_state(session, attempt_id, candidate_id)
    _require_workstation(state, workstation)
    now = utcnow()
    if state.status == SCHEDULED:
        raise DeliveryError("not_checked_in")
    if state.status == CHECKED_IN:
        if state.starts_at > now:
            raise DeliveryError("not_started", f"考试将于 {state.starts_at:%H:%M} (UTC) 开始，请稍候。")
        check_transition("start", state.status, IN_PROGRESS)
        changes: dict[str, Any] = {}
        if workstation and not state.workstation:
            # Joined while not yet admitted (no workstation was claimed then): this one claims it now,
            # so a second login elsewhere is held until a proctor allows the move.
            state.workstation = changes["workstation"] = workstation
            _log_row(session, state.id, "workstation", actor, {"workstation": workstation[:12]}, now)
        state.status = changes["status"] = IN_PROGRESS
        state.started_at = changes["started_at"] = now
        state.deadline_at = changes["deadline_at"] = now + dt.timedelta(seconds=state.remaining_s)
        state.last_activity_at = changes["last_activity_at"] = now
        _run(session, _UPDATE_ATTEMPT, {"b_id": state.id, **changes})
        _log_row(session, state.id, "started", actor, {"deadline_at": iso(state.deadline_at)}, now)
        _commit_core(session)
    else:
        before = state.status
        state = _submit_if_overdue(session, state, now)
        if state.status != before:
            session.commit()
    ack = {"ok": True, "status": state.status, "remaining_s": round(remaining_seconds(state, now), 3)}
    return ack, state


# ---------------------------------------------------------------- answers


def _check_writable(session: Session, attempt: _Clocked, attempt_id: int, now: dt.datetime) -> None:
    if _is_overdue(attempt, now):
        # The clock ran out before this write arrived: the attempt is submitted as of its deadline.
        locked = _lock_attempt(session, attempt_id)
        assert locked is not None
        _submit_locked(session, locked, actor="server", reason="deadline", at=locked.deadline_at)
        session.commit()
        raise DeliveryError("deadline_passed")
    if attempt.status == PAUSED:
        raise DeliveryError("paused")
    if attempt.status in (SUBMITTED, SCORED, "finalised"):
        raise DeliveryError("submitted")
    if attempt.status != IN_PROGRESS:
        raise DeliveryError("not_in_progress")


def _attempt_for(session: Session, attempt_id: Any, candidate_id: int) -> Attempt:
    if not isinstance(attempt_id, int):
        raise DeliveryError("not_your_attempt")
    attempt = _lock_attempt(session, attempt_id)
    if attempt is None or attempt.candidate_id != candidate_id:
        raise DeliveryError("not_your_attempt")
    return attempt


def _remember(session: Session, event: AttemptEvent, ack: dict[str, Any]) -> dict[str, Any]:
    """Commit the step with its acknowledgement; a concurrent resend of the same key gets the first ack."""
    event.ack = ack
    try:
        session.commit()
    except IntegrityError as exc:
        return _ack_after_conflict(session, event.attempt_id, event.key, exc)
    return ack


def _ack_after_conflict(session: Session, attempt_id: int, key: str | None, exc: IntegrityError) -> dict[str, Any]:
    """A step's key was already taken (a concurrent resend got there first): that step's acknowledgement.

    The attempt's row lock serialises steps of one attempt, so this is only reached without one.
    """
    session.rollback()
    previous = _previous_ack(session, attempt_id, key)
    if previous is None:
        raise exc
    return previous


@dataclass
class _ItemStep:
    """An answer or flag change that passed the checks shared by both: the locked attempt's state
    and the response row it changes (None when the item has none yet)."""

    attempt_id: int
    form_id: int
    item_id: int
    seq: int
    key: str
    last_seq: int
    response_id: int | None
    value: Any
    value_seq: int
    flag_seq: int
    now: dt.datetime


def _begin_item_step(
    session: Session, candidate_id: int, attempt_id: Any, item_id: Any, seq: Any, key: str | None,
    workstation: str | None,
) -> _ItemStep | dict[str, Any]:
    """Lock the attempt and check a save or flag; a repeated `key` returns its first acknowledgement.

    Saves are most of exam day's traffic, so this is one statement that reads the attempt (locked on
    PostgreSQL), the item's response and any earlier step with the same key, instead of loading ORM
    objects (DESIGN.md §7: the acknowledgement waits on this path).
    """
    if not isinstance(attempt_id, int):
        raise DeliveryError("not_your_attempt")
    key_ok = isinstance(key, str) and 0 < len(key) <= 80
    item_ok = isinstance(item_id, int) and not isinstance(item_id, bool)
    params = {"attempt": attempt_id, "item": item_id if item_ok else -1, "key": key if key_ok else None}
    row = _run(session, _ITEM_STEP, params, lock=True).one_or_none()
    if row is None or row.candidate_id != candidate_id:
        raise DeliveryError("not_your_attempt")
    if row.ack is not None:
        return dict(row.ack)
    _require_workstation(row, workstation)
    now = utcnow()
    _check_writable(session, row, attempt_id, now)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not key_ok:
        raise DeliveryError("invalid_value", "请求缺少序号或幂等键。")
    if not item_ok or item_id not in form_items(session, row.form_id):
        raise DeliveryError("unknown_item")
    return _ItemStep(
        attempt_id=attempt_id, form_id=row.form_id, item_id=item_id, seq=seq, key=str(key),
        last_seq=row.last_seq, response_id=row.response_id, value=row.value, value_seq=row.value_seq or 0,
        flag_seq=row.flag_seq or 0, now=now,
    )


def _finish_item_step(
    session: Session, step: _ItemStep, kind: str, payload: dict[str, Any], ack: dict[str, Any],
    response: dict[str, Any], answered_delta: int = 0,
) -> dict[str, Any]:
    """Write the response change, the log entry and the attempt's counters; commit; return the ack."""
    try:
        if _connection(session).dialect.name == "postgresql":
            columns = tuple(c for c in _RESPONSE_COLUMNS if c in response)
            full = {**_NEW_RESPONSE, **response}
            _run(session, _step_writes(bool(response) and step.response_id is None, columns), {
                "b_id": step.attempt_id, "b_at": step.now, "b_seq": step.seq, "b_delta": answered_delta,
                "e_kind": kind, "e_actor": "candidate", "e_item": step.item_id, "e_key": step.key,
                "e_payload": payload, "e_ack": ack, "r_id": step.response_id,
                **{f"r_{c}": v for c, v in full.items()},
            })
            _commit_core(session)
            return ack
        if response and step.response_id is None:
            _run(session, _INSERT_RESPONSE, {
                "attempt_id": step.attempt_id, "item_version_id": step.item_id,
                **_NEW_RESPONSE, **response,
            })
        elif response:
            _run(session, _UPDATE_RESPONSE, {"b_id": step.response_id, **response})
        _run(session, _INSERT_EVENT, {
            "attempt_id": step.attempt_id, "at": step.now, "kind": kind, "actor": "candidate",
            "item_version_id": step.item_id, "seq": step.seq, "key": step.key, "payload": payload, "ack": ack,
        })
        _run(session, _TOUCH_AFTER_STEP, {"b_id": step.attempt_id, "b_at": step.now, "b_seq": step.seq,
                                          "b_delta": answered_delta})
        _commit_core(session)
    except IntegrityError as exc:
        return _ack_after_conflict(session, step.attempt_id, step.key, exc)
    return ack


def save_answer(
    session: Session,
    candidate_id: int,
    attempt_id: Any,
    item_id: Any,
    value: Any,
    seq: Any,
    key: str | None,
    workstation: str | None = None,
) -> dict[str, Any]:
    """Store one answer change; returns the acknowledgement (built only after the commit).

    The response keeps the value with the highest `seq`; a lower one is logged and acknowledged
    without being applied. The same `key` always gets the same acknowledgement.
    """
    try:
        step = _begin_item_step(session, candidate_id, attempt_id, item_id, seq, key, workstation)
        if isinstance(step, dict):
            return step
        frozen = form_items(session, step.form_id)[step.item_id]
        kind = item_type(frozen.content.type)
        reason = kind.check_value(frozen.content, value)
        if reason:
            raise DeliveryError("invalid_value", f"答案格式不正确：{reason}")
        applied = step.seq > step.value_seq
        delta = 0
        if applied:
            was_answered = step.value_seq > 0 and kind.is_answered(step.value)
            delta = int(kind.is_answered(value)) - int(was_answered)
        return _finish_item_step(
            session, step, "save", {"value": value, "applied": applied},
            {"ok": True, "seq": step.seq, "saved_at": iso(step.now)},
            {"value": value, "seq": step.seq, "saved_at": step.now} if applied else {},
            answered_delta=delta,
        )
    except DeliveryError as exc:
        session.rollback()
        return exc.ack()


def set_flag(
    session: Session,
    candidate_id: int,
    attempt_id: Any,
    item_id: Any,
    flagged: Any,
    seq: Any,
    key: str | None,
    workstation: str | None = None,
) -> dict[str, Any]:
    """Mark or unmark an item for review (标记); same ordering and idempotency rules as a save."""
    try:
        step = _begin_item_step(session, candidate_id, attempt_id, item_id, seq, key, workstation)
        if isinstance(step, dict):
            return step
        applied = step.seq > step.flag_seq
        return _finish_item_step(
            session, step, "flag", {"flagged": bool(flagged), "applied": applied},
            {"ok": True, "seq": step.seq, "flagged": bool(flagged)},
            {"flagged": bool(flagged), "flag_seq": step.seq} if applied else {},
        )
    except DeliveryError as exc:
        session.rollback()
        return exc.ack()


# ---------------------------------------------------------------- submitting


def _submit_locked(
    session: Session, attempt: Attempt, actor: str, reason: str, at: dt.datetime | None = None, note: str = ""
) -> None:
    """Move a locked, running or paused attempt to submitted and score it (same transaction)."""
    from exam_server.results.operations import score_attempt

    check_transition("submit", attempt.status, SUBMITTED)
    at = at or utcnow()
    attempt.status = SUBMITTED
    attempt.submitted_at = at
    attempt.submit_reason = reason
    attempt.remaining_s = remaining_seconds(attempt, at) if reason != "deadline" else 0.0
    attempt.deadline_at = None
    _log(session, attempt, "submitted", actor, {"reason": reason, "note": note}, at=at)
    score_attempt(session, attempt, actor="server")


def submit(
    session: Session, candidate_id: int, attempt_id: Any, key: str | None, workstation: str | None = None
) -> dict[str, Any]:
    """The candidate submits (交卷). A repeat, or a submit after the deadline did it, is acknowledged."""
    try:
        attempt = _attempt_for(session, attempt_id, candidate_id)
        previous = _previous_ack(session, attempt.id, key)
        if previous is not None:
            return previous
        _require_workstation(attempt, workstation)
        now = utcnow()
        if _is_overdue(attempt, now):
            _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
        elif attempt.status in (IN_PROGRESS, PAUSED):
            _submit_locked(session, attempt, actor="candidate", reason="candidate", at=now)
        elif attempt.status not in (SUBMITTED, SCORED, "finalised"):
            raise DeliveryError("not_in_progress")
        event = _log(session, attempt, "submit_ack", "candidate", {}, key=key, at=now)
        return _remember(session, event, {"ok": True, "status": attempt.status})
    except DeliveryError as exc:
        session.rollback()
        return exc.ack()


def force_submit(session: Session, attempt: Attempt, actor: str, reason: str) -> Attempt:
    """A proctor submits a candidate's attempt; the reason is required and logged."""
    if not reason.strip():
        raise DeliveryError("reason_required", "强制交卷必须填写原因。")
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.status in (IN_PROGRESS, PAUSED):
        _submit_locked(session, attempt, actor=actor, reason="proctor", note=reason)
        session.commit()
    return attempt


def submit_overdue(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Submit every running attempt whose deadline has passed, as of its deadline; returns their ids."""
    now = now or utcnow()
    due = session.scalars(
        select(Attempt.id).where(Attempt.status == IN_PROGRESS, Attempt.deadline_at <= now).limit(500)
    ).all()
    session.rollback()
    done = []
    for attempt_id in due:
        attempt = _lock_attempt(session, attempt_id)
        if attempt is not None and _is_overdue(attempt, now):
            _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
            session.commit()
            done.append(attempt_id)
        else:
            session.rollback()
    return done


# ---------------------------------------------------------------- the clock under a proctor's hand


def pause(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Stop the clock: the remaining time is stored and the deadline cleared."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if _is_overdue(attempt, now):
        _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
        session.commit()
        return attempt
    if attempt.status not in (IN_PROGRESS, CHECKED_IN):
        return attempt
    check_transition("pause", attempt.status, PAUSED)
    attempt.remaining_s = remaining_seconds(attempt, now)
    attempt.deadline_at = None
    # Remember where to return to: a paused, never-started attempt resumes to checked_in.
    _log(session, attempt, "paused", actor, {"reason": reason, "from": attempt.status,
                                              "remaining_s": attempt.remaining_s}, at=now)
    attempt.status = PAUSED
    session.commit()
    return attempt


def resume(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Restart the clock from the stored remaining time."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.status != PAUSED:
        return attempt
    now = utcnow()
    back_to = (attempt.started_at and IN_PROGRESS) or CHECKED_IN
    check_transition("resume", attempt.status, back_to)
    attempt.status = back_to
    if back_to == IN_PROGRESS:
        attempt.deadline_at = now + dt.timedelta(seconds=attempt.remaining_s)
    _log(session, attempt, "resumed", actor, {"reason": reason, "remaining_s": attempt.remaining_s}, at=now)
    session.commit()
    return attempt


def extend(session: Session, attempt: Attempt, actor: str, seconds: int, reason: str) -> Attempt:
    """Give extra time (延时); a reason is required and logged."""
    if not reason.strip():
        raise DeliveryError("reason_required", "延长时间必须填写原因。")
    if not 0 < seconds <= 4 * 3600:
        raise DeliveryError("invalid_value", "延长时间应在 1 秒到 4 小时之间。")
    attempt = _lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if attempt.status in (SUBMITTED, SCORED, "finalised") or _is_overdue(attempt, now):
        raise DeliveryError("submitted", "该考生已交卷，不能延长时间。")
    if attempt.status == IN_PROGRESS and attempt.deadline_at is not None:
        attempt.deadline_at = attempt.deadline_at + dt.timedelta(seconds=seconds)
    else:
        attempt.remaining_s += seconds
    _log(session, attempt, "extended", actor, {"seconds": seconds, "reason": reason}, at=now)
    session.commit()
    return attempt


def allow_move(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Let the waiting workstation take over the attempt; the old one is closed."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.pending_workstation:
        old = attempt.workstation
        attempt.workstation = attempt.pending_workstation
        attempt.pending_workstation = None
        _log(session, attempt, "moved", actor, {"reason": reason, "from": (old or "")[:12],
                                                 "to": attempt.workstation[:12]})
    else:
        # Unlock: the next workstation to join takes over (the old one died before anyone asked).
        attempt.workstation = None
        _log(session, attempt, "unlocked", actor, {"reason": reason})
    session.commit()
    return attempt


def touch_answered_counts(session: Session, attempt_ids: list[int]) -> None:
    """Recount answered items (used after a reopen or a data repair)."""
    for attempt_id in attempt_ids:
        count = 0
        attempt = session.get(Attempt, attempt_id)
        if attempt is None:
            continue
        items = form_items(session, attempt.form_id)
        for r in session.scalars(select(Response).where(Response.attempt_id == attempt_id)):
            if r.item_version_id in items and item_type(items[r.item_version_id].content.type).is_answered(r.value):
                count += 1
        session.execute(update(Attempt).where(Attempt.id == attempt_id).values(answered_count=count))
    session.commit()

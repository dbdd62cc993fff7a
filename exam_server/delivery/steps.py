"""The candidate's steps: join, start, save an answer, flag an item, submit.

Every step is appended to the attempt's event log in the same transaction as the change it makes, and a
candidate's acknowledgement is only ever built after that commit. A step's idempotency key makes a resend
return the first acknowledgement without applying anything twice (DESIGN.md §7).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam_server.core.timefmt import iso, local
from exam_server.delivery import store
from exam_server.delivery.clock import (
    DEADLINE_ACTOR,
    Clocked,
    announce_submissions,
    deadline_at_start,
    is_overdue,
    late_entry_cutoff,
    remaining_seconds,
    submit_at_deadline,
    submit_opens_at,
    submit_state,
)
from exam_server.delivery.errors import DeliveryError
from exam_server.delivery.limits import MAX_VALUE_CHARS, is_id, size_of, text_chars
from exam_server.delivery.misconduct import submit_description
from exam_server.delivery.models import (
    ACTIVE,
    CHECKED_IN,
    DONE,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    Attempt,
)
from exam_server.delivery.paper import form_items
from exam_server.delivery.queries import AttemptState, answers_of, attempt_state, start_state
from exam_server.delivery.states import check_transition
from item_bank.db import utcnow
from item_bank.types import item_type

# The actor of a candidate's own saves, flags and submits: the hot path knows the attempt, not the login.
CANDIDATE = "candidate"
JOIN_TOUCH_S = 60.0


# A step's sequence number is stored in a 32-bit column; a larger one would overflow it (or freeze the item
# behind a value no later step can beat), so it is refused like any other malformed request.
MAX_SEQ = 2**31 - 1
# The attempt's workstation column holds 64 characters; the exam page's own names are about 20.
MAX_WORKSTATION = 64


class _AtWorkstation(Clocked, Protocol):
    workstation: str | None


def _require_workstation(attempt: _AtWorkstation, workstation: str | None) -> None:
    """A step must come from the workstation the attempt is bound to: a step that names none (an HTTP call
    without it, a socket whose join was refused) is a mismatch, never a way around the one-workstation rule."""
    if attempt.workstation and attempt.workstation != workstation:
        raise DeliveryError("moved")


def _check_workstation_name(workstation: Any) -> str:
    if not isinstance(workstation, str) or not 0 < len(workstation) <= MAX_WORKSTATION:
        raise DeliveryError("invalid_value", f"工作站标识无效：应为 1 到 {MAX_WORKSTATION} 个字符。")
    return workstation


def _check_writable(session: Session, attempt: Clocked, attempt_id: int, now: dt.datetime) -> None:
    if is_overdue(attempt, now):
        # The clock ran out before this write arrived: the attempt is submitted as of its deadline, in a transaction
        # of its own (the step's may be a direct write, which the ORM does not join), unless the deadline sweeper
        # got there between the two.
        session.rollback()
        locked = store.lock_attempt(session, attempt_id)
        if locked is not None and is_overdue(locked, now):
            submit_at_deadline(session, locked)
            session.commit()
            announce_submissions(session)
        else:
            session.rollback()
        raise DeliveryError("deadline_passed")
    if attempt.status == PAUSED:
        raise DeliveryError("paused")
    if attempt.status in DONE:
        raise DeliveryError("submitted")
    if attempt.status != IN_PROGRESS:
        raise DeliveryError("not_in_progress")


# ---------------------------------------------------------------- join and start


def _own_state(session: Session, attempt_id: Any, candidate_id: int | None, *, starting: bool = False) -> AttemptState:
    """The locked state of the candidate's own attempt (with its paper's columns when `starting`), or
    `not_your_attempt`."""
    if not is_id(attempt_id):
        state = None
    elif starting:
        state = start_state(session, attempt_id)
    else:
        state = attempt_state(session, attempt_id, lock=True)
    if state is None or (candidate_id is not None and state.candidate_id != candidate_id):
        raise DeliveryError("not_your_attempt")
    return state


def _submit_if_overdue(session: Session, state: AttemptState, now: dt.datetime) -> AttemptState:
    """Submit an attempt whose clock ran out (as of its deadline) and return its new state."""
    if not is_overdue(state, now):
        return state
    session.rollback()  # what was read ends (on SQLite a direct write): the submit locks the attempt and reads it again
    attempt = store.lock_attempt(session, state.id)
    assert attempt is not None
    if is_overdue(attempt, now):  # else the deadline sweeper submitted it between the two
        submit_at_deadline(session, attempt)
        session.flush()
    return AttemptState.of(attempt)


def join(
    session: Session, attempt_id: int, workstation: str, actor: str, candidate_id: int | None = None,
    seen_seq: Any = None,
) -> tuple[dict[str, Any], AttemptState, bool]:
    """A workstation opens the attempt: its state, acknowledged answers and flags, the seat's state, and
    whether the seat map has anything new to show (a plain reconnect of the same workstation has not).

    One workstation at a time: a different one is held (`awaiting_move`) until a proctor allows it.
    `candidate_id`, when given, must own the attempt. `seen_seq` is the newest step the page saw acknowledged
    after a join that gave it every answer: when it is the attempt's `last_seq`, the page holds every acknowledged
    answer and flag already, and they are not sent again (`answers` and `flags` are None).
    """
    workstation = _check_workstation_name(workstation)
    now = utcnow()
    quiet = _quiet_rejoin(session, attempt_id, workstation, candidate_id, seen_seq, now)
    if quiet is not None:
        return quiet
    before = _own_state(session, attempt_id, candidate_id)
    state = _submit_if_overdue(session, before, now)
    seat_changed = state is not before
    active = state.status in ACTIVE
    changes: dict[str, Any] = {}
    if active and state.workstation and state.workstation != workstation:
        if state.pending_workstation != workstation:
            state.pending_workstation = workstation
            moving = {"pending_workstation": workstation}
            store.log_row(session, state, "move_requested", actor, {"workstation": workstation[:12]}, now, moving)
            store.update_attempt(session, state.id, moving)
        store.commit_core(session)
        raise DeliveryError("awaiting_move")
    if active and state.workstation != workstation:
        state.workstation = changes["workstation"] = workstation
        seat_changed = True
        store.log_row(session, state, "workstation", actor, {"workstation": workstation[:12]}, now, changes)
    # A rejoin (a reconnect after a network blip or a server restart) only refreshes a stale activity
    # time: a whole room rejoining at once then costs reads, not one disk sync per candidate.
    if state.last_activity_at is None or (now - state.last_activity_at).total_seconds() > JOIN_TOUCH_S:
        state.last_activity_at = changes["last_activity_at"] = now
    if changes:
        store.update_attempt(session, state.id, changes)
    # A whole centre rejoining after a restart: reading and sending every answer was half of a join's work,
    # and a page that kept its connection's answers needs none of them.
    held = _holds_every_answer(seen_seq, state)
    answers, flags = (None, None) if held else answers_of(session, state.id)
    store.commit_core(session)
    announce_submissions(session)  # the clock had run out: submitted above
    submit_text = _forced_submit_text(session, state) if state.status in DONE else ""
    return _joined(state, now, answers, flags, submit_text), state, seat_changed


def _holds_every_answer(seen_seq: Any, state: AttemptState) -> bool:
    return isinstance(seen_seq, int) and not isinstance(seen_seq, bool) and seen_seq == state.last_seq


def _joined(state: AttemptState, now: dt.datetime, answers: dict[str, Any] | None, flags: list[int] | None,
            submit_text: str) -> dict[str, Any]:
    return {
        "ok": True,
        "attempt_id": state.id,
        "status": state.status,
        "remaining_s": round(remaining_seconds(state, now), 3),
        "duration_s": state.duration_s,
        "server_now": iso(now),
        "last_seq": state.last_seq,
        "answers": answers,
        "flags": flags,
        "submit_text": submit_text,
    }


def _quiet_rejoin(session: Session, attempt_id: Any, workstation: str, candidate_id: int | None, seen_seq: Any,
                  now: dt.datetime) -> tuple[dict[str, Any], AttemptState, bool] | None:
    """A reconnect that changes nothing, answered from one unlocked read; None if the join must take the lock.

    After a server restart a whole centre rejoins at once, and nearly every rejoin is of the same workstation, on a
    running clock, with recent activity, from a page that holds every acknowledged answer: the locked join would
    write nothing. Its lock was still a write lock on SQLite and a row lock on PostgreSQL, whose commit then waits
    for the disk. Anything else (another workstation, a clock that ran out, stale activity, answers to send, a
    finished attempt's words, an attempt not the candidate's) is left to the locked join, which decides it as before.
    """
    if not is_id(attempt_id) or not isinstance(seen_seq, int):
        return None
    row = store.unlocked_state_row(session, attempt_id)
    if row is None:
        return None
    state = AttemptState(**row._asdict())
    quiet = (
        (candidate_id is None or state.candidate_id == candidate_id)
        and _holds_every_answer(seen_seq, state)
        and state.status not in DONE
        and not (state.status in ACTIVE and state.workstation != workstation)
        and not is_overdue(state, now)
        and state.last_activity_at is not None
        and (now - state.last_activity_at).total_seconds() <= JOIN_TOUCH_S
    )
    return (_joined(state, now, None, None, ""), state, False) if quiet else None


def _forced_submit_text(session: Session, state: AttemptState) -> str:
    # Only a finished attempt's rejoin reads this: a proctor's force-submit is shown in words (with its
    # misconduct category), never as the candidate's own 交卷.
    row = session.execute(
        select(Attempt.submit_reason, Attempt.submit_note, Attempt.misconduct_code).where(Attempt.id == state.id)
    ).one_or_none()
    if row is None or row.submit_reason != "proctor":
        return ""
    return submit_description(row.submit_reason, row.submit_note or "", row.misconduct_code or "")


def start(
    session: Session, attempt_id: int, actor: str, workstation: str | None = None, candidate_id: int | None = None
) -> tuple[dict[str, Any], AttemptState]:
    """The candidate has read the instructions: start the clock (a repeat is harmless).

    The state returned carries what the paper is rendered from (`paper.state_paper_json`)."""
    state = _own_state(session, attempt_id, candidate_id, starting=True)
    _require_workstation(state, workstation)
    now = utcnow()
    if state.status == SCHEDULED:
        raise DeliveryError("not_checked_in")
    if state.status == CHECKED_IN:
        if state.starts_at > now:
            raise DeliveryError("not_started", f"考试将于 {state.starts_at:%H:%M} (UTC) 开始，请稍候。")
        # A sitting imported at a test site keeps its paper sealed until the centre's release code is entered.
        if state.paper_sealed:
            raise DeliveryError("paper_sealed", "试卷尚未解封：请等待主监考输入鉴定中心提供的解封码后再开始考试。")
        cutoff = late_entry_cutoff(state.starts_at, state.late_entry_min)
        if now > cutoff and state.late_admitted_at is None:
            raise DeliveryError("late_entry_closed",
                                f"开考 {state.late_entry_min} 分钟后（{local(cutoff, '%H:%M')}）不得入场，不能开始考试。"
                                "请举手，由监考员决定是否准许入场。", cutoff_at=iso(cutoff))
        check_transition("start", state.status, IN_PROGRESS)
        changes: dict[str, Any] = {}
        if workstation and not state.workstation:
            # Joined while not yet admitted (no workstation was claimed then): this one claims it now,
            # so a second login elsewhere is held until a proctor allows the move.
            state.workstation = changes["workstation"] = workstation
            store.log_row(session, state, "workstation", actor, {"workstation": workstation[:12]}, now, changes)
        state.status = changes["status"] = IN_PROGRESS
        state.started_at = changes["started_at"] = now
        state.deadline_at = changes["deadline_at"] = deadline_at_start(
            timing=state.timing, starts_at=state.starts_at, duration_s=state.duration_s,
            remaining_s=state.remaining_s, extra_time_s=state.extra_time_s, now=now)
        state.last_activity_at = changes["last_activity_at"] = now
        store.log_row(session, state, "started", actor, {"deadline_at": iso(state.deadline_at)}, now, changes)
        store.update_attempt(session, state.id, changes, last=True)  # a room's start burst: one round trip less
        store.commit_core(session)
    else:
        before = state.status
        state = _submit_if_overdue(session, state, now)
        # Ended here even when a repeat start wrote nothing: the attempt's lock (SQLite's write lock, for every
        # attempt) is then not held while the start's paper is rendered and sent (events.on_start).
        session.commit()
        if state.status != before:
            announce_submissions(session)
    ack = {"ok": True, "status": state.status, "remaining_s": round(remaining_seconds(state, now), 3)}
    return ack, state


# ---------------------------------------------------------------- answers and flags


def _ack_after_conflict(session: Session, attempt_id: int, key: str | None, exc: IntegrityError) -> dict[str, Any]:
    """A step's key was already taken (a concurrent resend got there first): that step's acknowledgement.

    The attempt's row lock serialises steps of one attempt, so this is only reached without one.
    """
    session.rollback()
    previous = store.previous_ack(session, attempt_id, key)
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
    last_event_hash: str


def _key_ok(key: Any) -> bool:
    """An idempotency key as the exam page makes them (workstation:attempt:seq), stored in 80 characters."""
    return isinstance(key, str) and 0 < len(key) <= 80


def _begin_item_step(
    session: Session, candidate_id: int, attempt_id: Any, item_id: Any, seq: Any, key: str | None,
    workstation: str | None,
) -> _ItemStep | dict[str, Any]:
    """Lock the attempt and check a save or flag; a repeated `key` returns its first acknowledgement.

    Saves are most of exam day's traffic, so this is one statement that reads the attempt (locked on
    PostgreSQL), the item's response and any earlier step with the same key, instead of loading ORM
    objects (DESIGN.md §7: the acknowledgement waits on this path).
    """
    if not is_id(attempt_id):
        raise DeliveryError("not_your_attempt")
    key_ok = _key_ok(key)
    item_ok = is_id(item_id)
    row = store.item_step_row(session, attempt_id, item_id if item_ok else -1, key if key_ok else None)
    if row is None or row.candidate_id != candidate_id:
        raise DeliveryError("not_your_attempt")
    if row.ack is not None:
        session.rollback()  # a resend writes nothing: the write lock goes now, not when the event ends
        return dict(row.ack)
    _require_workstation(row, workstation)
    now = utcnow()
    _check_writable(session, row, attempt_id, now)
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ or not key_ok:
        raise DeliveryError("invalid_value", "请求缺少序号或幂等键，或序号超出范围。")
    if not item_ok or item_id not in form_items(session, row.form_id):
        raise DeliveryError("unknown_item")
    return _ItemStep(
        attempt_id=attempt_id, form_id=row.form_id, item_id=item_id, seq=seq, key=str(key),
        last_seq=row.last_seq, response_id=row.response_id, value=row.value, value_seq=row.value_seq or 0,
        flag_seq=row.flag_seq or 0, now=now, last_event_hash=row.last_event_hash,
    )


def _finish_item_step(
    session: Session, step: _ItemStep, kind: str, payload: dict[str, Any], ack: dict[str, Any],
    response: dict[str, Any], answered_delta: int = 0,
) -> dict[str, Any]:
    """Write the response change, the log entry and the attempt's counters; commit; return the ack."""
    try:
        store.write_item_step(
            session, attempt_id=step.attempt_id, item_id=step.item_id, seq=step.seq, key=step.key, now=step.now,
            response_id=step.response_id, kind=kind, actor=CANDIDATE, payload=payload, ack=ack,
            response=response, answered_delta=answered_delta, prev_hash=step.last_event_hash,
        )
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
        # Measured before anything is read or locked, and never stored: an answer no item type allows.
        if size_of(value, MAX_VALUE_CHARS) > MAX_VALUE_CHARS:
            raise DeliveryError("value_too_large")
        step = _begin_item_step(session, candidate_id, attempt_id, item_id, seq, key, workstation)
        if isinstance(step, dict):
            return step
        frozen = form_items(session, step.form_id)[step.item_id]
        kind = item_type(frozen.content.type)
        limit = kind.value_limit(frozen.content)
        if text_chars(value) > limit:
            raise DeliveryError("value_too_large", f"答案过长：本题答案不超过 {limit} 字，请删减后再保存。")
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
        if not isinstance(flagged, bool):  # bool("no") is True: only the page's own true/false counts
            raise DeliveryError("invalid_value", "标记应为是或否。")
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


def _check_submit_open(state: AttemptState, now: dt.datetime) -> None:
    """The sitting's minimum time before 交卷: refused before it with the moment it opens."""
    opens = submit_opens_at(timing=state.timing, starts_at=state.starts_at, started_at=state.started_at,
                            min_submit_min=state.min_submit_min)
    if opens is not None and now < opens:
        raise DeliveryError("submit_too_early", f"开考 {state.min_submit_min} 分钟内不得交卷："
                            f"{local(opens, '%H:%M')} 后才能交卷，请继续作答。", opens_at=iso(opens))


def submit_with_state(
    session: Session, candidate_id: int, attempt_id: Any, key: str | None, workstation: str | None = None
) -> tuple[dict[str, Any], AttemptState | None, str]:
    """`submit`, with what the pushes that follow need: the attempt's state after it (None when refused) and how it
    was submitted in the candidate's words (a proctor's force-submit names its reason; read only then).

    A room submits at once, so this is the path of join and start: one locked read of the state, the earlier
    acknowledgement of `key`, and prepared writes (the submission, the log entry with its acknowledgement), one
    commit; asking for scoring follows the commit (results/submitted.py).
    """
    try:
        state = _own_state(session, attempt_id, candidate_id)
        if key is not None and not _key_ok(key):
            raise DeliveryError("invalid_value", "请求的幂等键无效。")
        previous = store.previous_ack(session, state.id, key)
        if previous is not None:
            session.rollback()
            return previous, state, _forced_submit_text(session, state)
        _require_workstation(state, workstation)
        now = utcnow()
        submitted_before = state.status in DONE
        if is_overdue(state, now):
            assert state.deadline_at is not None  # overdue: it has one
            submit_state(session, state, DEADLINE_ACTOR, "deadline", state.deadline_at)
        elif state.status in (IN_PROGRESS, PAUSED):
            _check_submit_open(state, now)
            submit_state(session, state, CANDIDATE, "candidate", now)
        elif not submitted_before:
            raise DeliveryError("not_in_progress")
        ack = {"ok": True, "status": state.status}
        changes: dict[str, Any] = {}
        store.log_row(session, state, "submit_ack", CANDIDATE, {}, now, changes, key=key, ack=ack)
        store.update_attempt(session, state.id, changes)
        try:
            store.commit_core(session)
        except IntegrityError as exc:  # a concurrent resend of the same key committed first
            return _ack_after_conflict(session, state.id, key, exc), state, _forced_submit_text(session, state)
        announce_submissions(session)  # scoring follows as a job, after the commit
        return ack, state, _forced_submit_text(session, state) if submitted_before else ""
    except DeliveryError as exc:
        session.rollback()
        return exc.ack(), None, ""


def submit(
    session: Session, candidate_id: int, attempt_id: Any, key: str | None, workstation: str | None = None
) -> dict[str, Any]:
    """The candidate submits (交卷). A repeat, or a submit after the deadline did it, is acknowledged."""
    return submit_with_state(session, candidate_id, attempt_id, key, workstation)[0]

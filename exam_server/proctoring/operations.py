"""The proctor's verbs: check-in, acting on one candidate's clock, room-wide pause and resume, announcements
and incidents.

The clock operations themselves (pause, resume, extend, force-submit, allow a move) belong to delivery;
here they are applied to a room and scoped to the proctor's room (`access`). Every action is an event in
the attempt's append-only log. What the console reads is in `queries`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery import clock
from exam_server.delivery.errors import DeliveryError
from exam_server.delivery.misconduct import misconduct_codes
from exam_server.delivery.models import (
    ACTIVE,
    CHECKED_IN,
    DONE,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    Attempt,
    AttemptEvent,
)
from exam_server.delivery.operations import check_in
from exam_server.proctoring.access import ProctorError
from exam_server.proctoring.queries import room_attempts
from item_bank.audit import audit
from item_bank.db import utcnow

# Incident categories (事件类别) a proctor chooses from.
INCIDENT_CATEGORIES = {
    "environment": "考场环境",
    "candidate": "考生",
    "staff": "工作人员",
    "technical": "技术故障",
}
MAX_ANNOUNCEMENT = 300
MAX_REASON = 500


def _reason(text: Any, required: bool, what: str) -> str:
    value = text.strip() if isinstance(text, str) else ""
    if required and not value:
        raise ProctorError("reason_required", f"{what}必须填写原因。", 400)
    if len(value) > MAX_REASON:
        raise ProctorError("invalid_value", f"原因太长（最多 {MAX_REASON} 字）。", 400)
    return value


def admit(session: Session, attempt: Attempt, actor: str) -> Attempt:
    """The proctor has compared the candidate with their ID: admit them to their seat (入场)."""
    if attempt.status != SCHEDULED:
        if attempt.status in ACTIVE:
            return attempt  # already admitted; a second click is harmless
        raise ProctorError("not_admissible", "该考生已交卷，不能再次入场。")
    return check_in(session, attempt, actor)


def admit_late(session: Session, attempt: Attempt, actor: str, reason: Any = "") -> Attempt:
    """Let a candidate start after the sitting's late-entry cut-off (准许迟到入场), with the reason."""
    if attempt.status not in (SCHEDULED, *ACTIVE):
        raise ProctorError("not_admissible", "该考生已交卷。")
    return clock.admit_late(session, attempt, actor, _reason(reason, True, "准许迟到入场"))


# ---------------------------------------------------------------- acting on one attempt


def pause(session: Session, attempt: Attempt, actor: str, reason: Any = "") -> Attempt:
    """Pause one candidate's clock (暂停)."""
    if attempt.status not in (IN_PROGRESS, CHECKED_IN):
        raise ProctorError("not_running", "只有已入场或答题中的考生可以暂停。")
    return clock.pause(session, attempt, actor, _reason(reason, False, "暂停"))


def resume(session: Session, attempt: Attempt, actor: str, reason: Any = "") -> Attempt:
    """Resume one paused candidate (恢复)."""
    if attempt.status != PAUSED:
        raise ProctorError("not_paused", "该考生的考试没有暂停。")
    return clock.resume(session, attempt, actor, _reason(reason, False, "恢复"))


def extend(session: Session, attempt: Attempt, actor: str, minutes: Any, reason: Any) -> Attempt:
    """Give extra minutes (延时) with a reason."""
    if isinstance(minutes, str) and minutes.strip().isdigit():
        minutes = int(minutes.strip())
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 240:
        raise ProctorError("invalid_value", "延长时间应为 1 到 240 分钟。", 400)
    text = _reason(reason, True, "延长时间")
    try:
        return clock.extend(session, attempt, actor, minutes * 60, text)
    except DeliveryError as exc:
        session.rollback()
        raise ProctorError(exc.code, exc.message) from exc


def force_submit(session: Session, attempt: Attempt, actor: str, reason: Any, misconduct: Any = None) -> Attempt:
    """Submit a candidate's attempt for them (强制交卷) with a reason and, for misconduct (违纪), its code
    (delivery/misconduct.json); the candidate, the log and the results list show both."""
    text = _reason(reason, True, "强制交卷")
    code = misconduct.strip() if isinstance(misconduct, str) else ""
    codes = misconduct_codes()
    if code and code not in codes:
        raise ProctorError("invalid_value", "请选择违纪类别：" + "、".join(codes.values()) + "。", 400)
    if attempt.status not in (IN_PROGRESS, PAUSED):
        raise ProctorError("not_running", "只有答题中或已暂停的考试可以强制交卷。")
    return clock.force_submit(session, attempt, actor, text, code)


def allow_move(session: Session, attempt: Attempt, actor: str, reason: Any = "") -> tuple[Attempt, str | None]:
    """Let the candidate continue on the workstation that asked (or on the next one to log in);
    returns the attempt and the workstation that is closed."""
    if attempt.status not in ACTIVE:
        raise ProctorError("not_running", "该考生的考试不在进行中，无需换机。")
    old = attempt.workstation
    attempt = clock.allow_move(session, attempt, actor, _reason(reason, False, "换机"))
    return attempt, old


def _incident(category: Any, reason: Any) -> str:
    """The incident's account, once its category is one of INCIDENT_CATEGORIES and a reason is given."""
    if category not in INCIDENT_CATEGORIES:
        raise ProctorError("invalid_value", "请选择事件类别：" + "、".join(INCIDENT_CATEGORIES.values()) + "。", 400)
    return _reason(reason, True, "事件记录")


def log_incident(session: Session, attempt: Attempt, actor: str, category: Any, reason: Any) -> AttemptEvent:
    """Record an incident (考场事件) against one candidate: a category and what happened."""
    text = _incident(category, reason)
    event = AttemptEvent(attempt_id=attempt.id, kind="incident", actor=actor,
                         payload={"category": category, "reason": text, "scope": "attempt"}, at=utcnow())
    session.add(event)
    audit(session, actor, "incident", "attempt", attempt.id, after={"category": category}, reason=text)
    session.commit()
    return event


# ---------------------------------------------------------------- acting on the room


ClockVerb = Callable[[Session, Attempt, str, str], Attempt]


@dataclass
class RoomAction:
    """What a room-wide pause or resume did: every attempt it changed, split by what it meant for the candidate."""

    changed: list[Attempt] = field(default_factory=list)
    # Candidates who were answering (pause) or who go back to answering (resume): their clocks stopped or restarted.
    answering: int = 0
    # Admitted candidates who had not started: held at the instructions (pause) or released to them (resume).
    not_started: int = 0


def _on_room(
    session: Session, room_id: int, exam_session_id: int, actor: str, reason: Any, *,
    action: str, label: str, applies: tuple[str, ...], verb: ClockVerb, kind: str, answering: str,
) -> RoomAction:
    """Apply a clock `verb` to every attempt of the room whose status is in `applies`; audit it as `action`.

    The room's activity list shows one line for the action (from this audit row), not one per candidate: the
    row names the attempt events it wrote (`events`), which `queries.room_activity` leaves out."""
    text = _reason(reason, False, label)
    result = RoomAction()
    for attempt in room_attempts(session, room_id, exam_session_id):
        if attempt.status not in applies:
            continue
        before = attempt.status
        attempt = verb(session, attempt, actor, text or label)
        if attempt.status == before or attempt.status in DONE:
            continue  # changed meanwhile, or its time had run out (submitted, not paused)
        result.changed.append(attempt)
        if (before if kind == "paused" else attempt.status) == answering:
            result.answering += 1
        else:
            result.not_started += 1
    ids = [a.id for a in result.changed]
    # Each changed attempt's newest event of this kind is the one just written (its row was locked meanwhile).
    events = session.scalars(
        select(func.max(AttemptEvent.id)).where(AttemptEvent.attempt_id.in_(ids), AttemptEvent.kind == kind)
        .group_by(AttemptEvent.attempt_id)
    ).all() if ids else []
    audit(session, actor, action, "room", room_id, reason=text, after={
        "session_id": exam_session_id, "attempts": ids, "events": sorted(events),
        "answering": result.answering, "not_started": result.not_started,
    })
    session.commit()
    return result


def pause_room(session: Session, room_id: int, exam_session_id: int, actor: str, reason: Any = "") -> RoomAction:
    """Pause every admitted candidate in the room (全场暂停): the clocks of those answering stop, and those who
    have not started cannot start until the room resumes."""
    return _on_room(session, room_id, exam_session_id, actor, reason, action="pause_room", label="全场暂停",
                    applies=(IN_PROGRESS, CHECKED_IN), verb=clock.pause, kind="paused", answering=IN_PROGRESS)


def resume_room(session: Session, room_id: int, exam_session_id: int, actor: str, reason: Any = "") -> RoomAction:
    """Resume every paused candidate in the room (全场恢复)."""
    return _on_room(session, room_id, exam_session_id, actor, reason, action="resume_room", label="全场恢复",
                    applies=(PAUSED,), verb=clock.resume, kind="resumed", answering=IN_PROGRESS)


def announce(session: Session, room_id: int, exam_session_id: int, actor: str, text: Any) -> list[Attempt]:
    """Send a notice to every screen in the room (考场通知); logged on each candidate's attempt."""
    message = text.strip() if isinstance(text, str) else ""
    if not message:
        raise ProctorError("invalid_value", "通知内容不能为空。", 400)
    if len(message) > MAX_ANNOUNCEMENT:
        raise ProctorError("invalid_value", f"通知内容太长（最多 {MAX_ANNOUNCEMENT} 字）。", 400)
    now = utcnow()
    reached = [a for a in room_attempts(session, room_id, exam_session_id) if a.status not in (SCHEDULED, *DONE)]
    for attempt in reached:
        session.add(AttemptEvent(attempt_id=attempt.id, kind="announcement", actor=actor,
                                 payload={"text": message, "room_id": room_id}, at=now))
    audit(session, actor, "announcement", "room", room_id, after={"text": message, "attempts": len(reached)})
    session.commit()
    return reached


def log_room_incident(
    session: Session, room_id: int, exam_session_id: int, actor: str, category: Any, reason: Any
) -> list[AttemptEvent]:
    """Record an incident affecting the whole room; it is logged on every admitted candidate's attempt."""
    text = _incident(category, reason)
    now = utcnow()
    events = []
    for attempt in room_attempts(session, room_id, exam_session_id):
        if attempt.status != SCHEDULED:
            event = AttemptEvent(attempt_id=attempt.id, kind="incident", actor=actor, at=now,
                                 payload={"category": category, "reason": text, "scope": "room", "room_id": room_id})
            session.add(event)
            events.append(event)
    audit(session, actor, "incident", "room", room_id, after={"category": category, "attempts": len(events)},
          reason=text)
    session.commit()
    return events

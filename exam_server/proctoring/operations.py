"""The proctor's verbs: who may act on which room, check-in, room-wide pause and resume,
announcements, incidents, and the live seat map.

The clock operations themselves (pause, resume, extend, force-submit, allow a move) belong to
delivery; here they are applied to a room and scoped to the proctor's room. Every action is an
event in the attempt's append-only log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from exam_server.core.models import User
from exam_server.core.timefmt import iso
from exam_server.delivery import clock
from exam_server.delivery.errors import DeliveryError
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
from exam_server.sessions.models import Candidate, ExamSession, Room, Seat, Ticket
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel import DomainError

# Incident categories (事件类别) a proctor chooses from.
INCIDENT_CATEGORIES = {
    "environment": "考场环境",
    "candidate": "考生",
    "staff": "工作人员",
    "technical": "技术故障",
}

# What the seat map shows (DESIGN.md §7), in the order of the legend.
SEAT_STATES = {
    "empty": "空座位",
    "absent": "未入场",
    "not_started": "已入场，未开始",
    "in_progress": "答题中",
    "idle": "长时间无操作",
    "disconnected": "连接中断",
    "paused": "已暂停",
    "submitted": "已交卷",
}

# A candidate whose browser holds no socket and who has done nothing for this long is shown as
# disconnected (the HTTP fallback re-joins every 15 s, so it stays fresh).
DISCONNECT_GRACE_S = 20
MAX_ANNOUNCEMENT = 300
MAX_REASON = 500


class ProctorError(DomainError):
    """A refused proctor action: a stable `code`, a Chinese `message`, and the HTTP status it maps to."""

    default_code = "refused"
    default_status = 409

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message, code=code, status=status)


# ---------------------------------------------------------------- authorisation


def may_act_anywhere(user: User) -> bool:
    """Centre staff and admins act on every room."""
    return user.has_role("centre_staff")


def can_act_on_room(user: User | None, room_id: int | None) -> bool:
    """A proctor acts only on their own room (User.room_id); centre staff and admins anywhere."""
    if user is None or not user.active or not user.has_role("proctor", "centre_staff"):
        return False
    if may_act_anywhere(user):
        return True
    return room_id is not None and user.room_id == room_id


def authorise_room(user: User | None, room_id: int | None) -> None:
    """Raise ProctorError(403) unless `user` may act on `room_id`."""
    if user is None or not user.active or not user.has_role("proctor", "centre_staff"):
        raise ProctorError("forbidden", "您没有监考权限。", 403)
    if not can_act_on_room(user, room_id):
        if user.room_id is None:
            raise ProctorError("no_room", "您还没有被分配监考考场，请联系鉴定中心。", 403)
        raise ProctorError("not_your_room", "这不是您监考的考场。", 403)


def room_id_of(attempt: Attempt) -> int | None:
    seat = attempt.ticket.seat
    return seat.room_id if seat is not None else None


def attempt_for(session: Session, user: User | None, attempt_id: Any) -> Attempt:
    """The attempt `user` may act on; 404 for an unknown one, 403 outside their room."""
    attempt = session.get(Attempt, attempt_id) if isinstance(attempt_id, int) and not isinstance(attempt_id, bool) else None
    if attempt is None:
        raise ProctorError("not_found", "没有找到这名考生的作答记录。", 404)
    authorise_room(user, room_id_of(attempt))
    return attempt


def _reason(text: Any, required: bool, what: str) -> str:
    value = text.strip() if isinstance(text, str) else ""
    if required and not value:
        raise ProctorError("reason_required", f"{what}必须填写原因。", 400)
    if len(value) > MAX_REASON:
        raise ProctorError("invalid_value", f"原因太长（最多 {MAX_REASON} 字）。", 400)
    return value


# ---------------------------------------------------------------- which sitting a room is running


def sessions_in_room(session: Session, room_id: int) -> list[ExamSession]:
    """Sittings with candidates seated in the room, newest first."""
    return list(session.scalars(
        select(ExamSession).join(Ticket, Ticket.session_id == ExamSession.id).join(Seat, Ticket.seat_id == Seat.id)
        .where(Seat.room_id == room_id).distinct().order_by(ExamSession.starts_at.desc())
    ))


def current_session(
    session: Session, room_id: int, session_id: int | None = None, now: dt.datetime | None = None
) -> ExamSession | None:
    """The sitting the room's console shows: the one asked for, else the one under way or nearest in time."""
    candidates = sessions_in_room(session, room_id)
    if session_id is not None:
        return next((s for s in candidates if s.id == session_id), None)
    if not candidates:
        return None
    now = now or utcnow()

    def distance(s: ExamSession) -> float:
        start = s.starts_at
        end = start + dt.timedelta(seconds=s.duration_s)
        if start - dt.timedelta(hours=2) <= now <= end + dt.timedelta(hours=2):
            return 0.0 if now <= end + dt.timedelta(minutes=30) else (now - end).total_seconds()
        return abs((start - now).total_seconds())

    return min(candidates, key=distance)


def room_attempts(session: Session, room_id: int, exam_session_id: int) -> list[Attempt]:
    """The sitting's attempts seated in the room, by seat number."""
    return list(session.scalars(
        select(Attempt).join(Ticket, Attempt.ticket_id == Ticket.id).join(Seat, Ticket.seat_id == Seat.id)
        .where(Seat.room_id == room_id, Attempt.session_id == exam_session_id)
        .options(joinedload(Attempt.ticket).joinedload(Ticket.seat), joinedload(Attempt.candidate))
        .order_by(Seat.number)
    ).unique())


# ---------------------------------------------------------------- the seat map


@dataclass(frozen=True)
class SeatView:
    seat: int
    state: str
    attempt_id: int | None = None
    ticket: str | None = None
    name: str | None = None
    answered: int = 0
    n_items: int = 0
    remaining_s: float | None = None
    pending_move: bool = False
    connected: bool = False
    idle_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seat": self.seat, "state": self.state, "label": SEAT_STATES[self.state],
            "attempt_id": self.attempt_id, "ticket": self.ticket, "name": self.name,
            "answered": self.answered, "n_items": self.n_items,
            "remaining_s": None if self.remaining_s is None else round(self.remaining_s, 1),
            "pending_move": self.pending_move, "connected": self.connected,
            "idle_s": None if self.idle_s is None else round(self.idle_s),
        }


def seat_state(
    attempt: Attempt, now: dt.datetime, connected: bool, idle_after_s: float
) -> tuple[str, float | None]:
    """The seat map's word for an attempt, and the seconds since its last activity."""
    idle_s = (now - attempt.last_activity_at).total_seconds() if attempt.last_activity_at else None
    status = attempt.status
    if status == IN_PROGRESS and attempt.deadline_at is not None and now >= attempt.deadline_at:
        return "submitted", idle_s  # the clock has run out; the server's sweep is about to record it
    if status in DONE:
        return "submitted", idle_s
    if status == PAUSED:
        return "paused", idle_s
    if status == SCHEDULED:
        return "absent", idle_s
    if status == CHECKED_IN:
        return "not_started", idle_s
    if not connected and (idle_s is None or idle_s > DISCONNECT_GRACE_S):
        return "disconnected", idle_s
    if idle_s is not None and idle_s > idle_after_s:
        return "idle", idle_s
    return "in_progress", idle_s


def view_of(attempt: Attempt, now: dt.datetime, connected: set[int], idle_after_s: float) -> SeatView:
    state, idle_s = seat_state(attempt, now, attempt.id in connected, idle_after_s)
    seat = attempt.ticket.seat
    return SeatView(
        seat=seat.number if seat else 0, state=state, attempt_id=attempt.id, ticket=attempt.ticket.number,
        name=attempt.candidate.name, answered=attempt.answered_count, n_items=len(attempt.item_order),
        remaining_s=clock.remaining_seconds(attempt, now), pending_move=bool(attempt.pending_workstation),
        connected=attempt.id in connected, idle_s=idle_s,
    )


def seat_map(
    session: Session,
    room: Room,
    exam_session: ExamSession | None,
    connected: Iterable[int] = (),
    idle_after_s: float = 300,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Every seat of the room with the state of the candidate on it, and counts per state."""
    now = now or utcnow()
    connected = set(connected)
    by_seat: dict[int, SeatView] = {}
    if exam_session is not None:
        for attempt in room_attempts(session, room.id, exam_session.id):
            view = view_of(attempt, now, connected, idle_after_s)
            by_seat[view.seat] = view
    seats = [by_seat.get(seat.number) or SeatView(seat=seat.number, state="empty") for seat in room.seats]
    counts = {state: 0 for state in SEAT_STATES}
    for view in seats:
        counts[view.state] += 1
    return {
        "room_id": room.id,
        "session_id": exam_session.id if exam_session else None,
        "server_now": iso(now),
        "seats": [v.as_dict() for v in seats],
        "counts": counts,
    }


# ---------------------------------------------------------------- check-in


def find_candidates(
    session: Session, user: User, query: str, exam_session: ExamSession | None, room_id: int | None = None
) -> list[dict[str, Any]]:
    """Tickets of the sitting whose ticket number or ID number matches `query` (exact, or the ID
    number's last 6 characters), each with its place and whether `user` may admit it here."""
    text = query.strip().upper()
    if len(text) < 4 or exam_session is None:
        return []
    conditions = [Ticket.number == text, Candidate.id_number == text]
    if len(text) >= 6 and text.isalnum():
        conditions.append(Candidate.id_number.like(f"%{text[-6:]}"))
    matches = session.scalars(
        select(Ticket).join(Candidate, Ticket.candidate_id == Candidate.id)
        .where(Ticket.session_id == exam_session.id, or_(*conditions))
        .options(joinedload(Ticket.candidate), joinedload(Ticket.seat).joinedload(Seat.room).joinedload(Room.site))
        .order_by(Ticket.number).limit(10)
    ).unique().all()
    found = []
    for ticket in matches:
        attempt = session.scalar(select(Attempt).where(Attempt.ticket_id == ticket.id))
        seat = ticket.seat
        here = seat is not None and (room_id is None or seat.room_id == room_id)
        found.append({
            "attempt_id": attempt.id if attempt else None,
            "ticket": ticket.number,
            "name": ticket.candidate.name,
            "id_number": ticket.candidate.id_number,
            "status": attempt.status if attempt else None,
            "seat": seat.number if seat else None,
            "room": f"{seat.room.site.name} {seat.room.name}" if seat else "未安排座位",
            "in_this_room": here,
            "may_admit": bool(attempt and here and can_act_on_room(user, seat.room_id if seat else None)),
        })
    return found


def admit(session: Session, attempt: Attempt, actor: str) -> Attempt:
    """The proctor has compared the candidate with their ID: admit them to their seat (入场)."""
    if attempt.status != SCHEDULED:
        if attempt.status in ACTIVE:
            return attempt  # already admitted; a second click is harmless
        raise ProctorError("not_admissible", "该考生已交卷，不能再次入场。")
    return check_in(session, attempt, actor)


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


def force_submit(session: Session, attempt: Attempt, actor: str, reason: Any) -> Attempt:
    """Submit a candidate's attempt for them (强制交卷) with a reason."""
    text = _reason(reason, True, "强制交卷")
    if attempt.status not in (IN_PROGRESS, PAUSED):
        raise ProctorError("not_running", "只有答题中或已暂停的考试可以强制交卷。")
    return clock.force_submit(session, attempt, actor, text)


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


def _on_room(
    session: Session, room_id: int, exam_session_id: int, actor: str, reason: Any, *,
    action: str, label: str, applies: tuple[str, ...], verb: ClockVerb,
) -> list[Attempt]:
    """Apply a clock `verb` to every attempt of the room whose status is in `applies`; audit it as `action`."""
    text = _reason(reason, False, label)
    done = [verb(session, attempt, actor, text or label)
            for attempt in room_attempts(session, room_id, exam_session_id) if attempt.status in applies]
    audit(session, actor, action, "room", room_id, after={"attempts": [a.id for a in done]}, reason=text)
    session.commit()
    return done


def pause_room(session: Session, room_id: int, exam_session_id: int, actor: str, reason: Any = "") -> list[Attempt]:
    """Pause every running candidate in the room (全场暂停); returns the attempts paused."""
    return _on_room(session, room_id, exam_session_id, actor, reason, action="pause_room", label="全场暂停",
                    applies=(IN_PROGRESS, CHECKED_IN), verb=clock.pause)


def resume_room(session: Session, room_id: int, exam_session_id: int, actor: str, reason: Any = "") -> list[Attempt]:
    """Resume every paused candidate in the room (全场恢复); returns the attempts resumed."""
    return _on_room(session, room_id, exam_session_id, actor, reason, action="resume_room", label="全场恢复",
                    applies=(PAUSED,), verb=clock.resume)


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


# ---------------------------------------------------------------- the room's log


STAFF_KINDS = ("checked_in", "paused", "resumed", "extended", "submitted", "moved", "unlocked", "incident",
               "announcement", "move_requested")


def room_activity(session: Session, room_id: int, exam_session_id: int, limit: int = 40) -> list[dict[str, Any]]:
    """The latest staff actions and incidents in the room, newest first (announcements once per send)."""
    rows = session.execute(
        select(AttemptEvent, Ticket.number, Candidate.name, Seat.number)
        .join(Attempt, AttemptEvent.attempt_id == Attempt.id)
        .join(Ticket, Attempt.ticket_id == Ticket.id)
        .join(Candidate, Attempt.candidate_id == Candidate.id)
        .join(Seat, Ticket.seat_id == Seat.id)
        .where(Seat.room_id == room_id, Attempt.session_id == exam_session_id, AttemptEvent.kind.in_(STAFF_KINDS))
        .order_by(AttemptEvent.id.desc())
        .limit(limit * 4)
    ).all()
    out: list[dict[str, Any]] = []
    seen_broadcast: set[tuple[str, str, str]] = set()
    for event, ticket, name, seat in rows:
        if event.kind == "announcement" or event.payload.get("scope") == "room":
            key = (event.kind, event.at.isoformat(), str(event.payload))
            if key in seen_broadcast:
                continue
            seen_broadcast.add(key)
            who = "全场"
        else:
            who = f"{seat} 号 {name}"
        out.append({"at": iso(event.at), "kind": event.kind, "actor": event.actor, "who": who,
                    "ticket": ticket, "payload": event.payload})
        if len(out) >= limit:
            break
    return out

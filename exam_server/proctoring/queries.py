"""What a proctor's console reads: the sitting a room is running, its attempts, the live seat map, check-in
search, and the room's latest staff actions."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from exam_server.core.models import User
from exam_server.core.timefmt import iso
from exam_server.delivery import clock
from exam_server.delivery.misconduct import submit_description
from exam_server.delivery.models import (
    CHECKED_IN,
    DONE,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    SUBMITTED,
    Attempt,
    AttemptEvent,
)
from exam_server.proctoring.access import can_act_on_room, may_act_anywhere
from exam_server.sessions.models import Candidate, ExamSession, Room, Seat, Ticket
from item_bank.audit import AuditEvent
from item_bank.db import utcnow

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
    # Scoring follows the submit as a job (results/submitted.py): 已交卷 until it has run.
    "scored": "已评分",
}

# A candidate whose browser holds no socket and who has done nothing for this long is shown as
# disconnected (the HTTP fallback re-joins every 15 s, so it stays fresh).
DISCONNECT_GRACE_S = 20


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
    # Past the sitting's late-entry cut-off, not started and not admitted late: 开始考试 is refused until the
    # proctor admits the candidate (the console's 准许迟到入场).
    late_closed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "seat": self.seat, "state": self.state, "label": SEAT_STATES[self.state],
            "attempt_id": self.attempt_id, "ticket": self.ticket, "name": self.name,
            "answered": self.answered, "n_items": self.n_items,
            "remaining_s": None if self.remaining_s is None else round(self.remaining_s, 1),
            "pending_move": self.pending_move, "connected": self.connected,
            "idle_s": None if self.idle_s is None else round(self.idle_s),
            "late_closed": self.late_closed,
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
        return ("submitted" if status == SUBMITTED else "scored"), idle_s
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


def late_entry_closed(attempt: Attempt, now: dt.datetime) -> bool:
    """Whether 开始考试 is refused to this candidate now for lateness (steps.py's rule, read for the console)."""
    if attempt.status not in (SCHEDULED, CHECKED_IN) or attempt.late_admitted_at is not None:
        return False
    sitting = attempt.session
    return now > clock.late_entry_cutoff(sitting.starts_at, sitting.late_entry_min)


def view_of(attempt: Attempt, now: dt.datetime, connected: set[int], idle_after_s: float) -> SeatView:
    state, idle_s = seat_state(attempt, now, attempt.id in connected, idle_after_s)
    seat = attempt.ticket.seat
    return SeatView(
        seat=seat.number if seat else 0, state=state, attempt_id=attempt.id, ticket=attempt.ticket.number,
        name=attempt.candidate.name, answered=attempt.answered_count, n_items=len(attempt.item_order),
        remaining_s=clock.remaining_seconds(attempt, now), pending_move=bool(attempt.pending_workstation),
        connected=attempt.id in connected, idle_s=idle_s, late_closed=late_entry_closed(attempt, now),
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


# A name as the proctor reads it off an ID card: Chinese characters, with the middle dot of some names (阿依古丽·买买提).
NAME_QUERY = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·•]+$")
MIN_NAME_CHARS = 2
MIN_NUMBER_CHARS = 4


def find_candidates(
    session: Session, user: User, query: str, exam_session: ExamSession | None, room_id: int | None = None
) -> list[dict[str, Any]]:
    """Tickets of the sitting whose ticket number or ID number matches `query` (exact, or the ID
    number's last 6 characters), or whose name begins with a Chinese `query` of 2 characters or more, each
    with its place and whether `user` may admit it here.

    A proctor sees the candidates of the rooms they may act on. A candidate of another room shows only
    when the query is their whole ticket or ID number (the proctor holds the document), and then only
    where to send them: no name, no ID number; a name finds nobody in another room. Centre staff see every room."""
    text = query.strip().upper()[:40]
    if exam_session is None:
        return []
    by_name = NAME_QUERY.match(text) is not None
    if len(text.replace("·", "").replace("•", "")) < (MIN_NAME_CHARS if by_name else MIN_NUMBER_CHARS):
        return []
    exact = [Ticket.number == text, Candidate.id_number == text]
    conditions = list(exact)
    if len(text) >= 6 and text.isalnum() and not by_name:
        conditions.append(Candidate.id_number.like(f"%{text[-6:]}"))
    if by_name:  # only characters of NAME_QUERY, so nothing to escape in the pattern
        conditions.append(Candidate.name.like(f"{text}%"))
    query_ = (
        select(Ticket).join(Candidate, Ticket.candidate_id == Candidate.id)
        .where(Ticket.session_id == exam_session.id, or_(*conditions))
    )
    everywhere = may_act_anywhere(user)
    if not everywhere:
        mine = select(Seat.id).where(Seat.room_id == user.room_id) if user.room_id is not None else None
        query_ = query_.where(or_(*exact, Ticket.seat_id.in_(mine)) if mine is not None else or_(*exact))
    matches = session.scalars(
        query_.options(joinedload(Ticket.candidate), joinedload(Ticket.seat).joinedload(Seat.room).joinedload(Room.site))
        .order_by(Ticket.number).limit(10)
    ).unique().all()
    found = []
    for ticket in matches:
        seat = ticket.seat
        here = seat is not None and (room_id is None or seat.room_id == room_id)
        if not everywhere and not (seat is not None and can_act_on_room(user, seat.room_id)):
            found.append({
                "attempt_id": None, "ticket": ticket.number, "name": "", "id_number": "", "status": None,
                "seat": seat.number if seat else None,
                "room": f"{seat.room.site.name} {seat.room.name}" if seat else "未安排座位",
                "in_this_room": False, "may_admit": False,
            })
            continue
        attempt = session.scalar(select(Attempt).where(Attempt.ticket_id == ticket.id))
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


# ---------------------------------------------------------------- the room's log


STAFF_KINDS = ("checked_in", "paused", "resumed", "extended", "submitted", "moved", "unlocked", "incident",
               "announcement", "move_requested", "admitted_late")


ROOM_CLOCK_ACTIONS = ("pause_room", "resume_room")


def _room_clock_actions(
    session: Session, room_id: int, exam_session_id: int, limit: int
) -> tuple[list[dict[str, Any]], set[int]]:
    """The room's latest 全场暂停 / 全场恢复 as one line each (from their audit rows), and the ids of the attempt
    events they wrote, which the activity list then leaves out."""
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity == "room", AuditEvent.entity_id == str(room_id),
               AuditEvent.action.in_(ROOM_CLOCK_ACTIONS))
        .order_by(AuditEvent.id.desc()).limit(limit)
    ).all()
    lines: list[dict[str, Any]] = []
    covered: set[int] = set()
    for row in rows:
        after = row.after or {}
        if after.get("session_id") != exam_session_id:
            continue
        covered.update(int(i) for i in after.get("events") or [])
        lines.append({"at": iso(row.at), "kind": row.action, "actor": row.actor, "who": "全场", "ticket": None,
                      "payload": {"reason": row.reason, "count": after.get("answering", 0),
                                  "not_started": after.get("not_started", 0)}})
    return lines, covered


def room_activity(session: Session, room_id: int, exam_session_id: int, limit: int = 40) -> list[dict[str, Any]]:
    """The latest staff actions and incidents in the room, newest first: a room-wide action is one line
    (announcements and incidents once per send, a room pause or resume once, not once per candidate)."""
    room_lines, covered = _room_clock_actions(session, room_id, exam_session_id, limit)
    rows = session.execute(
        select(AttemptEvent, Ticket.number, Candidate.name, Seat.number)
        .join(Attempt, AttemptEvent.attempt_id == Attempt.id)
        .join(Ticket, Attempt.ticket_id == Ticket.id)
        .join(Candidate, Attempt.candidate_id == Candidate.id)
        .join(Seat, Ticket.seat_id == Seat.id)
        .where(Seat.room_id == room_id, Attempt.session_id == exam_session_id, AttemptEvent.kind.in_(STAFF_KINDS))
        .order_by(AttemptEvent.id.desc())
        .limit(limit * 4 + len(covered))
    ).all()
    out: list[dict[str, Any]] = []
    seen_broadcast: set[tuple[str, str, str]] = set()
    for event, ticket, name, seat in rows:
        if event.id in covered:
            continue
        if event.kind == "announcement" or event.payload.get("scope") == "room":
            key = (event.kind, event.at.isoformat(), str(event.payload))
            if key in seen_broadcast:
                continue
            seen_broadcast.add(key)
            who = "全场"
        else:
            who = f"{seat} 号 {name}"
        payload = event.payload
        if event.kind == "submitted":
            # The log says how in words ("监考员强制交卷（违纪：…）：原因"), never the internal "proctor".
            payload = {"reason": submit_description(str(payload.get("reason") or ""), str(payload.get("note") or ""),
                                                    str(payload.get("misconduct") or ""))}
        out.append({"at": iso(event.at), "kind": event.kind, "actor": event.actor, "who": who,
                    "ticket": ticket, "payload": payload})
        if len(out) >= limit:
            break
    lines = sorted(out + room_lines, key=lambda line: dt.datetime.fromisoformat(line["at"]), reverse=True)
    return lines[:limit]

"""One table of the proctor's actions, shared by the HTTP endpoints and the /proctor Socket.IO events,
so both are authorised and logged the same way; after each commit the screens are told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.timefmt import iso
from exam_server.delivery.clock import remaining_seconds
from exam_server.delivery.limits import is_id
from exam_server.delivery.models import Attempt
from exam_server.delivery.notify import (
    EXAM_NS,
    PROCTOR_NS,
    attempt_room,
    proctor_room,
    push_attempt_state,
    push_closed,
    push_seat,
)
from exam_server.extensions import socketio
from exam_server.proctoring import access, queries
from exam_server.proctoring import operations as ops
from item_bank.db import utcnow
from item_bank.kernel import DomainError

MOVED_TEXT = "监考员已允许您在另一台电脑上继续考试，本机上的考试已关闭。请按监考员指示操作。"


def push_announcement(attempts: list[Attempt], text: str) -> None:
    """Show `text` on each of these candidates' screens, with the server's time of sending (a workstation's own
    clock may be wrong)."""
    at = iso(utcnow())
    for attempt in attempts:
        socketio.emit("announcement", {"attempt_id": attempt.id, "text": text, "at": at},
                      to=attempt_room(attempt.id), namespace=EXAM_NS)


def push_extended(attempt: Attempt, seconds: int) -> None:
    """Tell the candidate's screen that time was added, before the new time reaches it, so the jump of the clock
    comes with a sentence (考试时间已延长 N 分钟) instead of none."""
    socketio.emit("time_extended", {"attempt_id": attempt.id, "seconds": seconds, "at": iso(utcnow())},
                  to=attempt_room(attempt.id), namespace=EXAM_NS)


def push_activity(room_id: int | None, kind: str, actor: str, who: str, payload: dict[str, Any]) -> None:
    """Tell every console watching the room that something was done (their activity list)."""
    if room_id is not None:
        socketio.emit("activity", {"kind": kind, "actor": actor, "who": who, "payload": payload,
                                   "at": iso(utcnow())},
                      to=proctor_room(room_id), namespace=PROCTOR_NS)


def _who(attempt: Attempt) -> str:
    seat = attempt.ticket.seat
    return f"{seat.number if seat else '-'} 号 {attempt.candidate.name}"


# ---------------------------------------------------------------- on one attempt


Action = Callable[[Session, Attempt, str, dict[str, Any]], str]


def _on_attempt(verb: Callable[..., Any], pushed: str, kind: str, *fields: str) -> Action:
    """An action that runs `verb(session, attempt, actor, *data[fields])`, then tells the screens the attempt's
    new state with the reason `pushed`; the console's activity list calls it `kind`."""

    def act(session: Session, attempt: Attempt, actor: str, data: dict[str, Any]) -> str:
        verb(session, attempt, actor, *(data.get(name) for name in fields))
        push_attempt_state(attempt, pushed)
        return kind

    return act


def _allow_move(session: Session, attempt: Attempt, actor: str, data: dict[str, Any]) -> str:
    attempt, old = ops.allow_move(session, attempt, actor, data.get("reason"))
    if old:
        push_closed(attempt, old, MOVED_TEXT)
    push_attempt_state(attempt, "moved")
    return "moved"


def _extend(session: Session, attempt: Attempt, actor: str, data: dict[str, Any]) -> str:
    attempt = ops.extend(session, attempt, actor, data.get("minutes"), data.get("reason"))
    push_extended(attempt, int(str(data.get("minutes")).strip()) * 60)
    push_attempt_state(attempt, "extended")
    return "extended"


def _incident(session: Session, attempt: Attempt, actor: str, data: dict[str, Any]) -> str:
    ops.log_incident(session, attempt, actor, data.get("category"), data.get("reason"))
    push_seat(attempt)
    return "incident"


ATTEMPT_ACTIONS: dict[str, Action] = {
    "check_in": _on_attempt(ops.admit, "checked_in", "checked_in"),
    "admit_late": _on_attempt(ops.admit_late, "admitted_late", "admitted_late", "reason"),
    "pause": _on_attempt(ops.pause, "paused", "paused", "reason"),
    "resume": _on_attempt(ops.resume, "resumed", "resumed", "reason"),
    "extend": _extend,
    "force_submit": _on_attempt(ops.force_submit, "proctor", "submitted", "reason", "misconduct"),
    "allow_move": _allow_move,
    "incident": _incident,
}

ROOM_ACTIONS = ("pause_room", "resume_room", "announce", "room_incident")


def _int(value: Any) -> int | None:
    """An id from a console's request (a number or its digits), or None; never one too large for a column."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 19:
        value = int(value.strip())
    return value if is_id(value) else None


# The free-text fields a console sends, and how long each may be (a reason or an announcement is a sentence or two).
TEXT_FIELDS = {"reason": 500, "text": 500, "category": 40, "misconduct": 20}


def _check_text_fields(data: dict[str, Any]) -> None:
    """Text fields are text of a sensible length or absent: never a list or an object stored in the log."""
    for name, limit in TEXT_FIELDS.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise access.ProctorError("invalid_value", f"“{name}”应为不超过 {limit} 字的文字。", 400)


def _room_action(session: Session, user: User, actor: str, action: str, data: dict[str, Any]) -> dict[str, Any]:
    room_id = _int(data.get("room_id"))
    access.authorise_room(user, room_id)
    if room_id is None:  # centre staff may act on every room, but must name one
        raise access.ProctorError("not_found", "没有这个考场。", 404)
    exam_session = queries.current_session(session, room_id, _int(data.get("session_id")))
    if exam_session is None:
        raise access.ProctorError("no_session", "本考场当前没有考试场次。", 404)
    payload: dict[str, Any]
    if action in ("pause_room", "resume_room"):
        verb = ops.pause_room if action == "pause_room" else ops.resume_room
        done = verb(session, room_id, exam_session.id, actor, data.get("reason"))
        for attempt in done.changed:
            push_attempt_state(attempt, "paused" if action == "pause_room" else "resumed")
        # `count`: the candidates whose answering stopped (or goes on); those who had not started are apart.
        payload = {"count": done.answering, "not_started": done.not_started, "reason": data.get("reason") or ""}
    elif action == "announce":
        attempts = ops.announce(session, room_id, exam_session.id, actor, data.get("text"))
        text = str(data.get("text")).strip()
        push_announcement(attempts, text)
        payload = {"count": len(attempts), "text": text}
    else:
        events = ops.log_room_incident(session, room_id, exam_session.id, actor, data.get("category"),
                                       data.get("reason"))
        payload = {"count": len(events), "category": data.get("category"), "reason": data.get("reason")}
    push_activity(room_id, action, actor, "全场", payload)
    return {"ok": True, "action": action, **payload}


def perform(session: Session, user: User | None, actor: str, action: str, data: Any) -> dict[str, Any]:
    """Authorise and carry out `action` with `data`; returns the acknowledgement ({ok, ...} or
    {ok: false, error, message, http_status})."""
    data = data if isinstance(data, dict) else {}
    try:
        if user is None:
            raise access.ProctorError("forbidden", "请先登录。", 401)
        _check_text_fields(data)
        if action in ATTEMPT_ACTIONS:
            attempt = access.attempt_for(session, user, _int(data.get("attempt_id")))
            kind = ATTEMPT_ACTIONS[action](session, attempt, actor, data)
            push_activity(access.room_id_of(attempt), kind, actor, _who(attempt),
                          {k: data[k] for k in ("reason", "minutes", "category") if k in data})
            return {"ok": True, "action": action, "attempt_id": attempt.id, "status": attempt.status,
                    "remaining_s": round(remaining_seconds(attempt), 1)}
        if action in ROOM_ACTIONS:
            return _room_action(session, user, actor, action, data)
        raise access.ProctorError("unknown_action", f"未知的操作：{action}", 400)
    except DomainError as exc:  # a proctor's refusal, a delivery one, or a lifecycle the table refuses
        session.rollback()
        return {**exc.ack(), "http_status": exc.status}

"""Pushes to browsers after a change has been committed: the candidate's screen and the proctor's room."""

from __future__ import annotations

from typing import Any

from exam_server.delivery.clock import remaining_seconds
from exam_server.delivery.misconduct import describe_attempt
from exam_server.delivery.models import Attempt
from exam_server.delivery.queries import AttemptState
from exam_server.extensions import socketio

EXAM_NS = "/exam"
PROCTOR_NS = "/proctor"


def attempt_room(attempt_id: int) -> str:
    return f"attempt:{attempt_id}"


def proctor_room(room_id: int) -> str:
    return f"room:{room_id}"


def seat_summary(state: AttemptState) -> dict[str, Any]:
    """What a proctor's seat map shows of one attempt."""
    return {
        "attempt_id": state.id,
        "status": state.status,
        "remaining_s": round(remaining_seconds(state), 1),
        "answered": state.answered_count,
        "seat": state.seat,
        "ticket": state.ticket,
        "pending_move": bool(state.pending_workstation),
    }


def push_attempt_state(attempt: Attempt, reason: str = "") -> None:
    """Tell the candidate's screen (and the proctor's room) the attempt's new state and time."""
    # How it was submitted, in words the candidate reads (a forced submit names its reason).
    push_state(AttemptState.of(attempt), reason, describe_attempt(attempt) if attempt.submit_reason == "proctor" else "")


def push_state(state: AttemptState, reason: str = "", submit_text: str = "") -> None:
    """`push_attempt_state` from an attempt's state as one query read it (a room's submits: no ORM loads)."""
    body = {"attempt_id": state.id, "status": state.status, "remaining_s": round(remaining_seconds(state), 3),
            "reason": reason, "submit_text": submit_text}
    socketio.emit("attempt_state", body, to=attempt_room(state.id), namespace=EXAM_NS)
    push_seat(state)


def push_seat(attempt: Attempt | AttemptState) -> None:
    state = attempt if isinstance(attempt, AttemptState) else AttemptState.of(attempt)
    if state.room_id is not None:
        socketio.emit("seat", seat_summary(state), to=proctor_room(state.room_id), namespace=PROCTOR_NS)


def push_closed(attempt: Attempt, workstation: str | None, reason: str) -> None:
    """Close the screen of `workstation` (the attempt moved away from it)."""
    socketio.emit("closed", {"attempt_id": attempt.id, "workstation": workstation, "reason": reason},
                  to=attempt_room(attempt.id), namespace=EXAM_NS)

"""The /proctor Socket.IO namespace: a console watches its room and acts on it.

Every event is authorised like an HTTP request: the connection carries the staff login session,
and each event reloads the user (a deactivated account or a changed room takes effect at once)
and checks the room before anything is done. Browsers from another origin are refused by the
Socket.IO server itself (same origin only, see exam_server/app.py).

Like a candidate's (delivery/events.py), each event runs under a request id of its own, with its event name, room
and attempt, and ends in one log line saying who did it and whether it was refused.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_login import current_user
from flask_socketio import join_room, leave_room

from exam_server.core import logs
from exam_server.core.models import User
from exam_server.delivery.events import connected_attempt_ids
from exam_server.delivery.limits import is_id
from exam_server.delivery.notify import PROCTOR_NS, proctor_room
from exam_server.extensions import db, socketio
from exam_server.proctoring import access, actions, queries
from exam_server.sessions.models import Room

log = logging.getLogger(__name__)

# Per connection (sid): the room it watches.
_watching: dict[str, int] = {}
Handler = Callable[[Any], dict[str, Any]]


def _logged(event: str) -> Callable[[Handler], Handler]:
    """A console's event under a request id of its own (and its attempt, if it names one), ending in one log line
    naming the staff account and the outcome."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(data: Any = None) -> dict[str, Any]:
            attempt_id = data.get("attempt_id") if isinstance(data, dict) else None
            with logs.bound(request_id=logs.new_request_id(), event=f"proctor.{event}",
                            attempt_id=attempt_id if is_id(attempt_id) else None):
                ack = handler(data)
                who = current_user.actor if current_user.is_authenticated else "anonymous"
                outcome = "ok" if ack.get("ok") else f"refused: {ack.get('error')}"
                log.info("proctor %s %s by %s (room %s)", event, outcome, who, _room_id(data) or "-")
                return ack

        return run

    return wrap


def staff_user() -> User | None:
    """The logged-in staff member, fresh from the database, if they may use a console at all."""
    if not current_user.is_authenticated or current_user.is_candidate:
        return None
    user = db.session.get(User, current_user.user.id)
    if user is None or not user.active or not user.has_role("proctor", "centre_staff"):
        return None
    return user


def room_seat_map(room: Room, session_id: int | None = None) -> dict[str, Any]:
    """The seat map of `room` for its current sitting, with this process's live /exam connections."""
    exam_session = queries.current_session(db.session, room.id, session_id)
    return queries.seat_map(db.session, room, exam_session, connected_attempt_ids(),
                        float(current_app.config["IDLE_AFTER_S"]))


@socketio.on("connect", namespace=PROCTOR_NS)
def on_connect(auth: Any = None) -> bool:
    return staff_user() is not None


@socketio.on("disconnect", namespace=PROCTOR_NS)
def on_disconnect(*_args: Any) -> None:
    _watching.pop(request.sid, None)  # type: ignore[attr-defined]


def _room_id(data: Any) -> int | None:
    value = data.get("room_id") if isinstance(data, dict) else None
    return value if is_id(value) else None


def _authorised_room(data: Any) -> tuple[Room | None, dict[str, Any]]:
    """The room named in `data` if the user may watch it, else None and the refusal."""
    user = staff_user()
    room_id = _room_id(data)
    try:
        access.authorise_room(user, room_id)
    except access.ProctorError as exc:
        return None, exc.ack()
    room = db.session.get(Room, room_id) if room_id is not None else None
    if room is None:
        return None, {"ok": False, "error": "not_found", "message": "没有这个考场。"}
    return room, {}


@socketio.on("watch", namespace=PROCTOR_NS)
@_logged("watch")
def on_watch(data: Any = None) -> dict[str, Any]:
    """Start receiving the room's `seat` and `activity` events; answers with the seat map."""
    room, refusal = _authorised_room(data)
    if room is None:
        return refusal
    sid = request.sid  # type: ignore[attr-defined]
    previous = _watching.get(sid)
    if previous is not None and previous != room.id:
        leave_room(proctor_room(previous))
    join_room(proctor_room(room.id))
    _watching[sid] = room.id
    session_id = data.get("session_id") if is_id(data.get("session_id")) else None
    return {"ok": True, **room_seat_map(room, session_id)}


@socketio.on("seats", namespace=PROCTOR_NS)
@_logged("seats")
def on_seats(data: Any = None) -> dict[str, Any]:
    """The seat map of a room the user may watch."""
    room, refusal = _authorised_room(data)
    if room is None:
        return refusal
    session_id = data.get("session_id") if is_id(data.get("session_id")) else None
    return {"ok": True, **room_seat_map(room, session_id)}


def _action_handler(action: str) -> Any:
    def handler(data: Any = None) -> dict[str, Any]:
        user = staff_user()
        actor = current_user.actor if user is not None else "anonymous"
        ack = actions.perform(db.session, user, actor, action, data)
        ack.pop("http_status", None)
        return ack

    handler.__name__ = f"on_{action}"
    return _logged(action)(handler)


for _action in (*actions.ATTEMPT_ACTIONS, *actions.ROOM_ACTIONS):
    socketio.on_event(_action, _action_handler(_action), namespace=PROCTOR_NS)

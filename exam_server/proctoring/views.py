"""The proctor console: the room's live seat map, check-in, actions, and an attempt's replayed log.

URL table:
  GET  /proctor                                  the console (a proctor lands in their room)
  GET  /proctor/rooms/<room>                     the room's console page
  GET  /proctor/rooms/<room>/seats               the seat map and latest activity (JSON, polled)
  GET  /proctor/rooms/<room>/find?q=             check-in search by ticket or ID number (JSON)
  POST /proctor/rooms/<room>/<room action>       pause_room, resume_room, announce, room_incident (JSON)
  POST /proctor/attempts/<id>/<attempt action>   check_in, pause, resume, extend, force_submit,
                                                 allow_move, incident (JSON)
  GET  /proctor/attempts/<id>/log?at=            the attempt's log replayed to a moment
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.misconduct import misconduct_codes
from exam_server.extensions import db
from exam_server.proctoring import access, actions, queries
from exam_server.proctoring import events as proctor_events  # registers the /proctor Socket.IO handlers
from exam_server.proctoring import operations as ops
from exam_server.proctoring.replay import (
    KIND_LABELS,
    attempt_events,
    describe,
    format_clock,
    parse_moment,
    question_numbers,
    replay,
    screen_items,
)
from exam_server.sessions.models import Room, Site

blueprint = Blueprint("proctoring", __name__, url_prefix="/proctor")
PROCTOR_ROLES = ("proctor", "centre_staff")


def _user() -> User:
    user = db.session.get(User, current_user.user.id)
    assert user is not None
    return user


def _room_or_403(room_id: int) -> Room:
    room = db.session.get(Room, room_id)
    if room is None:
        abort(404)
    try:
        access.authorise_room(_user(), room.id)
    except access.ProctorError as exc:
        abort(403, exc.message)
    return room


def _session_arg() -> int | None:
    value = request.args.get("session", "")
    return int(value) if value.isdigit() else None


@blueprint.get("")
@role_required(*PROCTOR_ROLES)
def console() -> str | WerkzeugResponse:
    user = _user()
    if not access.may_act_anywhere(user):
        if user.room_id is None:
            return render_template("proctoring/no_room.html")
        return redirect(url_for("proctoring.room_console", room_id=user.room_id))
    sites = db.session.scalars(select(Site).options(joinedload(Site.rooms)).order_by(Site.code)).unique().all()
    rooms = []
    for site in sites:
        for room in site.rooms:
            current = queries.current_session(db.session, room.id)
            rooms.append({"site": site, "room": room, "session": current})
    return render_template("proctoring/rooms.html", rooms=rooms)


@blueprint.get("/rooms/<int:room_id>")
@role_required(*PROCTOR_ROLES)
def room_console(room_id: int) -> str:
    room = _room_or_403(room_id)
    exam_session = queries.current_session(db.session, room.id, _session_arg())
    others = queries.sessions_in_room(db.session, room.id)
    seat_map = proctor_events.room_seat_map(room, exam_session.id if exam_session else None)
    return render_template(
        "proctoring/console.html", room=room, exam_session=exam_session, others=others, seat_map=seat_map,
        categories=ops.INCIDENT_CATEGORIES, states=queries.SEAT_STATES, kind_labels=KIND_LABELS,
        misconduct=misconduct_codes(),
    )


@blueprint.get("/rooms/<int:room_id>/seats")
@role_required(*PROCTOR_ROLES)
def room_seats(room_id: int) -> WerkzeugResponse:
    room = _room_or_403(room_id)
    exam_session = queries.current_session(db.session, room.id, _session_arg())
    body = proctor_events.room_seat_map(room, exam_session.id if exam_session else None)
    body["activity"] = queries.room_activity(db.session, room.id, exam_session.id) if exam_session else []
    return jsonify(ok=True, **body)


@blueprint.get("/rooms/<int:room_id>/find")
@role_required(*PROCTOR_ROLES)
def find(room_id: int) -> WerkzeugResponse:
    room = _room_or_403(room_id)
    exam_session = queries.current_session(db.session, room.id, _session_arg())
    found = queries.find_candidates(db.session, _user(), request.args.get("q", ""), exam_session, room.id)
    return jsonify(ok=True, candidates=found)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        return body
    return request.form.to_dict()


def _perform(action: str, known: Collection[str], **target: int) -> tuple[WerkzeugResponse, int]:
    """Carry out one of the `known` actions on `target` (a room or an attempt) as the logged-in proctor."""
    if action not in known:
        abort(404)
    ack = actions.perform(db.session, _user(), current_user.actor, action, {**_body(), **target})
    status = ack.pop("http_status", 200)
    return jsonify(ack), status


@blueprint.post("/rooms/<int:room_id>/<action>")
@role_required(*PROCTOR_ROLES)
def room_action(room_id: int, action: str) -> tuple[WerkzeugResponse, int]:
    return _perform(action, actions.ROOM_ACTIONS, room_id=room_id)


@blueprint.post("/attempts/<int:attempt_id>/<action>")
@role_required(*PROCTOR_ROLES)
def attempt_action(attempt_id: int, action: str) -> tuple[WerkzeugResponse, int]:
    return _perform(action, actions.ATTEMPT_ACTIONS, attempt_id=attempt_id)


@blueprint.get("/attempts/<int:attempt_id>/log")
@role_required(*PROCTOR_ROLES)
def attempt_log(attempt_id: int) -> str | tuple[str, int]:
    try:
        attempt = access.attempt_for(db.session, _user(), attempt_id)
    except access.ProctorError as exc:
        abort(exc.status, exc.message)
    events = attempt_events(db.session, attempt.id)
    at_text = request.args.get("at", "").strip()
    at = None
    error = None
    if at_text:
        try:
            at = parse_moment(at_text, attempt.session.starts_at.astimezone(DISPLAY_ZONE).date())
        except ValueError as exc:
            error = str(exc)
    screen = replay(events, attempt.session.duration_s, at)
    items = screen_items(db.session, attempt, screen)
    numbers = question_numbers(attempt)
    rows = [{"event": e, "text": describe(e, numbers), "after": at is not None and e.at > at} for e in events]
    return render_template(
        "proctoring/attempt_log.html", attempt=attempt, screen=screen, items=items, rows=rows, at_text=at_text,
        error=error, clock=format_clock(screen.remaining_s), kind_labels=KIND_LABELS,
        answered=sum(1 for r in items if r["value"] not in (None, "", [])),
    )

"""The candidate's exam page and JSON API, including the HTTP fallback of the socket protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import candidate_required
from exam_server.delivery import (
    events,  # also registers the /exam Socket.IO handlers
    steps,
    sweeper,  # noqa: F401  (registers the deadline sweeper with `examctl run`)
)
from exam_server.delivery.errors import MESSAGES, DeliveryError, status_of
from exam_server.delivery.limits import MAX_HTTP_BODY_BYTES
from exam_server.delivery.models import Attempt
from exam_server.delivery.notify import push_seat, push_state
from exam_server.delivery.outline import paper_outline
from exam_server.delivery.paper import attempt_may_show, render_attempt_json
from exam_server.extensions import db
from item_bank.media import get_media
from item_bank.types import client_catalogue

blueprint = Blueprint("delivery", __name__)


def current_attempt() -> Attempt | None:
    """The logged-in candidate's attempt for their ticket."""
    return db.session.scalar(select(Attempt).where(Attempt.ticket_id == current_user.ticket_id))


@blueprint.get("/exam")
@candidate_required
def exam_page() -> str:
    attempt = current_attempt()
    ticket = current_user.ticket
    return render_template("delivery/exam.html", attempt=attempt, ticket=ticket, exam_session=ticket.session,
                           item_types=client_catalogue(),
                           outline=paper_outline(db.session, attempt) if attempt is not None else [])


@blueprint.get("/api/attempt")
@candidate_required
def api_attempt() -> WerkzeugResponse | tuple[WerkzeugResponse, int]:
    with events.burst_gate.admit("paper"):  # the whole room fetches its paper at the start
        # With its sitting in the same query: the paper's head reads the sitting's timing, and a lazy load of it
        # was a second query and most of a paper's cost (benchmarks/join_cost.py).
        attempt = db.session.scalar(select(Attempt).options(joinedload(Attempt.session))
                                    .where(Attempt.ticket_id == current_user.ticket_id))
        if attempt is None:
            return jsonify(ok=False, error="not_your_attempt", message="没有找到您的考试。"), 404
        body = render_attempt_json(db.session, attempt)
    return current_app.response_class(body, mimetype="application/json")


@blueprint.get("/api/attempts/<int:attempt_id>/media/<digest>")
@candidate_required
def attempt_media(attempt_id: int, digest: str) -> WerkzeugResponse:
    """An image of an item in the candidate's own running attempt, and nothing else."""
    attempt = current_attempt()
    if attempt is None or attempt.id != attempt_id or not attempt_may_show(db.session, attempt, digest):
        abort(404)
    found = get_media(db.session, digest)
    if found is None:
        abort(404)
    response = current_app.response_class(found.data, mimetype=found.mime)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _body() -> dict[str, Any]:
    """The call's JSON object ({} for anything else); a body larger than any call needs is not read past the cap."""
    # The declared length decides before anything is read; a body without one (chunked) is read up to the
    # app's MAX_CONTENT_LENGTH and then measured.
    if (request.content_length or 0) > MAX_HTTP_BODY_BYTES:
        raise DeliveryError("payload_too_large")
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise DeliveryError("payload_too_large") from None
    if len(raw) > MAX_HTTP_BODY_BYTES:
        raise DeliveryError("payload_too_large")
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _too_large(exc: DeliveryError) -> tuple[WerkzeugResponse, int]:
    return jsonify(exc.ack()), exc.status


def _reply(ack: dict[str, Any], attempt_id: Any) -> WerkzeugResponse | tuple[WerkzeugResponse, int]:
    if isinstance(attempt_id, int):
        attempt = db.session.get(Attempt, attempt_id)
        if attempt is not None and attempt.candidate_id == current_user.candidate_id:
            push_seat(attempt)
    if ack.get("ok"):
        return jsonify(ack)
    return jsonify(ack), status_of(str(ack.get("error")))


def _item_step(attempt_id: int, step: Callable[..., dict[str, Any]], field: str) -> ResponseReturnValue:
    """A save or a flag from the page's HTTP fallback: the same step, arguments and acknowledgement as its socket."""
    try:
        body = _body()
    except DeliveryError as exc:
        return _too_large(exc)
    ack = step(db.session, current_user.candidate_id, attempt_id, body.get("item_id"), body.get(field),
               body.get("seq"), body.get("key"), body.get("workstation"))
    return _reply(ack, attempt_id)


@blueprint.post("/api/attempts/<int:attempt_id>/save")
@db.once_more_after_disconnect
@candidate_required
def http_save(attempt_id: int) -> ResponseReturnValue:
    return _item_step(attempt_id, steps.save_answer, "value")


@blueprint.post("/api/attempts/<int:attempt_id>/flag")
@db.once_more_after_disconnect
@candidate_required
def http_flag(attempt_id: int) -> ResponseReturnValue:
    return _item_step(attempt_id, steps.set_flag, "flagged")


@blueprint.post("/api/attempts/<int:attempt_id>/submit")
@db.once_more_after_disconnect
@candidate_required
def http_submit(attempt_id: int) -> WerkzeugResponse | tuple[WerkzeugResponse, int]:
    try:
        body = _body()
    except DeliveryError as exc:
        return _too_large(exc)
    ack, state, submit_text = steps.submit_with_state(db.session, current_user.candidate_id, attempt_id,
                                                      body.get("key"), body.get("workstation"))
    if ack.get("ok") and state is not None:
        push_state(state, "submitted", submit_text)
    return _reply(ack, attempt_id)


@blueprint.post("/api/attempts/<int:attempt_id>/join")
@db.once_more_after_disconnect
@candidate_required
def http_join(attempt_id: int) -> WerkzeugResponse | tuple[WerkzeugResponse, int]:
    """The fallback for `join` and `start` when no socket can be opened."""
    try:
        body = _body()
    except DeliveryError as exc:
        return _too_large(exc)
    attempt = current_attempt()
    if attempt is None or attempt.id != attempt_id:
        return jsonify(ok=False, error="not_your_attempt", message=MESSAGES["not_your_attempt"]), 403
    try:
        # No name means the page's generic one; any other value must be a valid name (steps.join checks it).
        workstation = body.get("workstation")
        if workstation is None or workstation == "":
            workstation = "http"
        state, seat, _ = steps.join(db.session, attempt.id, workstation, current_user.actor)
        if body.get("start"):
            ack, seat = steps.start(db.session, attempt.id, current_user.actor, workstation)
            state.update(ack)
    except DeliveryError as exc:
        # The page's fallback loop reads any refused join as "not now" (409), whoever holds the attempt.
        db.session.rollback()
        return jsonify(exc.ack()), 409
    push_seat(seat)
    return jsonify(state)

"""Candidates held back by failed logins, for the proctor of their room (and centre staff): see who must wait
and let a candidate whose identity the proctor has checked log in again at once (audited).

URL table:
  GET  /proctor/logins                       the room's tickets whose next login must wait
  POST /proctor/logins/<ticket id>/unlock    forget that ticket's failed logins
  POST /proctor/logins/password              reset a candidate's password (准考证号 + reason): the new one is shown
                                             once on the answer page; the old one's sessions end
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.core.operations import unlock_login
from exam_server.core.security import TICKET_ACCOUNT, account_key, throttled_keys
from exam_server.extensions import db
from exam_server.proctoring import access
from exam_server.sessions import credentials
from exam_server.sessions.models import Ticket
from item_bank.db import utcnow

blueprint = Blueprint("proctor_logins", __name__, url_prefix="/proctor/logins")
PROCTOR_ROLES = ("proctor", "centre_staff")
TICKET_LOGIN_PREFIX = account_key(TICKET_ACCOUNT, "")


def _user() -> User:
    return db.session.get(User, current_user.user.id) or abort(403)


def _room_of(ticket: Ticket) -> int | None:
    return ticket.seat.room_id if ticket.seat is not None else None


@blueprint.get("")
@role_required(*PROCTOR_ROLES)
def index() -> str:
    user = _user()
    now = utcnow()
    waits = {row.key.removeprefix(TICKET_LOGIN_PREFIX): max(1, int((row.blocked_until - now).total_seconds()) + 1)
             for row in throttled_keys(db.session, TICKET_LOGIN_PREFIX) if row.blocked_until is not None}
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.number.in_(list(waits)))
        .options(joinedload(Ticket.candidate), joinedload(Ticket.seat)).order_by(Ticket.number)
    ).all() if waits else []
    # Only the candidates of the rooms this user watches: a proctor never sees another room's names.
    rows = [(t, waits[t.number]) for t in tickets if access.can_act_on_room(user, _room_of(t))]
    return render_template("proctoring/logins.html", rows=rows)


@blueprint.post("/<int:ticket_id>/unlock")
@role_required(*PROCTOR_ROLES)
def unlock(ticket_id: int) -> WerkzeugResponse:
    ticket = db.session.get(Ticket, ticket_id) or abort(404)
    if not access.can_act_on_room(_user(), _room_of(ticket)):
        abort(403, "这不是您监考的考场的考生。")
    if unlock_login(db.session, TICKET_ACCOUNT, ticket.number, current_user.actor, "ticket", ticket.id):
        flash(f"已解除准考证 {ticket.number} 的登录限制，考生可以立即登录。")
    else:
        flash(f"准考证 {ticket.number} 当前没有登录限制。")
    return redirect(url_for("proctor_logins.index"))


@blueprint.post("/password")
@role_required(*PROCTOR_ROLES)
def reset_password() -> WerkzeugResponse:
    """The proctor of the candidate's room (or centre staff), having checked the candidate's identity, gives them a
    new password; the answer page shows it once and is never cached."""
    number = request.form.get("number", "").strip()
    reason = request.form.get("reason", "").strip()
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number)) if number else None
    if ticket is None:
        flash(f"没有准考证号 {number or '（未填写）'}。")
        return redirect(url_for("proctor_logins.index"))
    if not access.can_act_on_room(_user(), _room_of(ticket)):
        abort(403, "这不是您监考的考场的考生。")
    if not reason:
        flash("重置密码必须填写原因。")
        return redirect(url_for("proctor_logins.index"))
    password = credentials.reset_password(db.session, ticket, current_user.actor, reason)
    # Shown once: never kept by a browser cache or a proxy.
    response = make_response(render_template("proctoring/password_reset.html", ticket=ticket, password=password))
    response.headers["Cache-Control"] = "no-store"
    return response

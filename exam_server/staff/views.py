"""Centre staff screens: the sittings of their centre (the province's and police's: every centre's), and each
sitting's candidates with status, progress and score."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from exam_server.core.auth import role_required
from exam_server.delivery.clock import remaining_seconds
from exam_server.delivery.models import Attempt
from exam_server.extensions import db
from exam_server.organisations.scope import current_scope
from exam_server.results.models import Result
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.sessions.sites import check_sitting, sittings_query

blueprint = Blueprint("staff", __name__, url_prefix="/staff")

STATUS_LABELS = {
    "scheduled": "未入场",
    "checked_in": "已入场",
    "in_progress": "答题中",
    "paused": "已暂停",
    "submitted": "已交卷",
    "scored": "已评分",
    "finalised": "已归档",
}


@blueprint.get("/sessions")
@role_required("centre_staff", "province", "police")
def sessions() -> str:
    rows = db.session.scalars(sittings_query(current_scope())).all()
    return render_template("staff/sessions.html", sessions=rows)


@blueprint.get("/sessions/<int:session_id>")
@role_required("centre_staff", "province", "police")
def session_detail(session_id: int) -> str:
    exam_session = db.session.get(ExamSession, session_id)
    if exam_session is None:
        abort(404)
    check_sitting(current_scope(), exam_session)
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.session_id == session_id).options(joinedload(Ticket.candidate))
        .order_by(Ticket.number)
    ).all()
    attempts = {a.ticket_id: a for a in db.session.scalars(select(Attempt).where(Attempt.session_id == session_id))}
    results = {
        r.attempt_id: r
        for r in db.session.scalars(
            select(Result).where(Result.session_id == session_id, Result.superseded.is_(False))
        )
    }
    n_items = sum(int(s.get("count", 0)) for s in exam_session.blueprint.spec.get("sections", []))
    rows = []
    for t in tickets:
        a = attempts.get(t.id)
        rows.append({
            "ticket": t,
            "attempt": a,
            "status": STATUS_LABELS.get(a.status, a.status) if a else "未生成",
            "status_code": a.status if a else "none",
            "remaining": remaining_seconds(a) if a else None,
            "result": results.get(a.id) if a else None,
        })
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return render_template("staff/session_detail.html", exam_session=exam_session, rows=rows,
                           n_items=n_items, counts=counts)

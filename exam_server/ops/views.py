"""/healthz for load balancers and monitors, and the audit-log page (/audit) with its Excel export."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import submit_job
from exam_server.ops.export import json_text
from exam_server.ops.health import health
from exam_server.ops.jobs import AUDIT_ROLES
from exam_server.ops.queries import AuditPage, AuditQuery, AuditQueryError, audit_page, entities

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database, the job queue, the message queue (if any) and disk space are all fine, else 503 naming
    the failed checks. No login: a load balancer asks it; it says nothing a visitor could use."""
    ok, body = health(current_app._get_current_object())  # type: ignore[attr-defined]
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(query: AuditQuery, page: AuditPage | None, error: str | None = None) -> str:
    return render_template("ops/audit.html", query=query, page=page, error=error, entities=entities(db.session),
                           json_text=json_text)


@blueprint.get("/audit")
@role_required(*AUDIT_ROLES)
def audit_log() -> ResponseReturnValue:
    try:
        query = AuditQuery.from_args(request.args)
    except AuditQueryError as exc:
        return _page(AuditQuery(), None, str(exc)), 400
    return _page(query, audit_page(db.session, query))


@blueprint.post("/audit/export")
@role_required(*AUDIT_ROLES)
def audit_export() -> ResponseReturnValue:
    """The filtered rows as an Excel file, written by a job (a long log must not hold the exam server)."""
    try:
        query = AuditQuery.from_args(request.form)
    except AuditQueryError as exc:
        return _page(AuditQuery(), None, str(exc)), 400
    job = submit_job("audit.export", query.filters(), actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))

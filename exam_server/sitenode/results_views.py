"""The results package screen: a site builds its sittings' packages, the centre imports them.

URL table:
  GET  /site-node/results                       site: its sittings, a package each; centre: upload, imports so far
  POST /site-node/results/<session id>          site: build the sitting's results package (a job)
  POST /site-node/results/import                centre: import an uploaded results package and score (a job)
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import stash_upload, submit_job
from exam_server.organisations.scope import current_scope
from exam_server.sessions.models import ExamSession, Room, SessionRoom, Site
from exam_server.sitenode import package
from exam_server.sitenode import results_jobs as jobs
from exam_server.sitenode.roles import SITE, node_role
from item_bank.audit import AuditEvent

blueprint = Blueprint("siteresults", __name__, url_prefix="/site-node/results")
ROLES = ("centre_staff",)


def _this_site() -> Site | None:
    code = package.node_site_code(current_app.instance_path, current_app.config.get("SITE_CODE"))
    return db.session.scalar(select(Site).where(Site.code == code)) if code else None


@blueprint.get("")
@role_required(*ROLES)
def page() -> str:
    if node_role() == SITE:
        site = _this_site()
        sittings = db.session.scalars(
            select(ExamSession).join(SessionRoom, SessionRoom.session_id == ExamSession.id)
            .join(Room, Room.id == SessionRoom.room_id).where(Room.site_id == (site.id if site else -1))
            .distinct().order_by(ExamSession.starts_at.desc())).all()
        built = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export_site_results")
                                   .order_by(AuditEvent.id.desc()).limit(50)).all()
        return render_template("sitenode/results.html", is_site=True, site=site, sittings=sittings, rows=built)
    ids = db.session.scalars(select(ExamSession.id).where(current_scope().centre_clause(ExamSession.centre_id)))
    imported = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "import_site_results",
                                                           AuditEvent.entity_id.in_([str(i) for i in ids]))
                                  .order_by(AuditEvent.id.desc()).limit(50)).all()
    return render_template("sitenode/results.html", is_site=False, rows=imported)


@blueprint.post("/<int:session_id>")
@role_required(*ROLES)
def build_job(session_id: int) -> WerkzeugResponse:
    site = _this_site()
    if node_role() != SITE or site is None or db.session.get(ExamSession, session_id) is None:
        abort(404)
    job = submit_job(jobs.BUILD, {"session_id": session_id, "site_id": site.id}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/import")
@role_required(*ROLES)
def import_job() -> WerkzeugResponse:
    if node_role() == SITE:
        abort(404)
    current_scope().check_write()
    upload = request.files.get("package")
    if upload is None or not upload.filename:
        flash("请选择考点成绩数据包文件")
        return redirect(url_for("siteresults.page"))
    job = submit_job(jobs.IMPORT, {"upload": stash_upload(upload.stream, ".zip"), "name": upload.filename},
                     current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))

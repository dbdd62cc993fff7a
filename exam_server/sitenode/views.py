"""Screens of the offline node.

URL table:
  GET  /site-node/exports                                   centre: sittings × their sites, package and code
  POST /site-node/exports/<session id>/<site id>            centre: build the site's package (a job)
  GET  /site-node/exports/<session id>/<site id>/code       centre: the release code to read out at the start
  GET  /site-node/keys                                      centre or site: registered keys, this node's own
  POST /site-node/keys                                      register a site's key (centre) or the centre's (site)
  GET  /site-node/import                                    site: upload a package, the packages imported
  POST /site-node/import                                    site: import the uploaded package (a job)
  GET  /site-node/unseal                                    site: the imported sittings, sealed or not
  POST /site-node/unseal/<session id>                       site: enter the release code (chief proctor)
  GET  /site-node/roster                                    the rooms the user checks candidates in at
  GET  /site-node/rooms/<room id>/roster                    check-in roster: seat, name, ID number, photo
  GET  /site-node/photos/<ticket id>                        a candidate's ID photo (the proctor of the room)
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core import signing
from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.jobs import stash_upload, submit_job
from exam_server.organisations.scope import current_scope
from exam_server.proctoring.access import authorise_room, may_act_anywhere
from exam_server.sessions.intake import ticket_photos
from exam_server.sessions.models import ExamSession, Room, Seat, SessionRoom, Site, Ticket
from exam_server.sessions.operations import mask_id_number
from exam_server.sitenode import jobs as node_jobs
from exam_server.sitenode import keys, package
from exam_server.sitenode.models import (
    KIND_CENTRE,
    KIND_SITE,
    SittingExport,
    SittingImport,
    TicketPhoto,
    TrustedKey,
)
from exam_server.sitenode.roles import SITE, node_role
from item_bank.kernel import DomainError

blueprint = Blueprint("sitenode", __name__, url_prefix="/site-node")
CENTRE_ROLES = ("centre_staff",)
CHIEF_PROCTOR_ROLES = ("proctor", "centre_staff")


def _sitting_and_site(session_id: int, site_id: int) -> tuple[ExamSession, Site]:
    exam_session, site = db.session.get(ExamSession, session_id), db.session.get(Site, site_id)
    if exam_session is None or site is None:
        abort(404)
    current_scope().check_centre(exam_session.centre_id, "考试场次")
    return exam_session, site


@blueprint.get("/exports")
@role_required(*CENTRE_ROLES)
def exports() -> str:
    scope = current_scope()
    sittings = db.session.scalars(select(ExamSession).where(scope.centre_clause(ExamSession.centre_id))
                                  .order_by(ExamSession.starts_at.desc())).all()
    sites_of = {}
    for exam_session in sittings:
        sites_of[exam_session.id] = db.session.scalars(
            select(Site).join(Room, Room.site_id == Site.id).join(SessionRoom, SessionRoom.room_id == Room.id)
            .where(SessionRoom.session_id == exam_session.id).distinct().order_by(Site.code)).all()
    done = {(e.session_id, e.site_code): e for e in db.session.scalars(select(SittingExport))}
    registered = {k.code for k in keys.active_keys(db.session, KIND_SITE)}
    return render_template("sitenode/exports.html", sittings=sittings, sites_of=sites_of, done=done,
                           registered=registered)


@blueprint.post("/exports/<int:session_id>/<int:site_id>")
@role_required(*CENTRE_ROLES)
def export_job(session_id: int, site_id: int) -> WerkzeugResponse:
    _sitting_and_site(session_id, site_id)
    job = submit_job(node_jobs.EXPORT, {"session_id": session_id, "site_id": site_id}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.get("/exports/<int:session_id>/<int:site_id>/code")
@role_required(*CENTRE_ROLES)
def release_code(session_id: int, site_id: int) -> str:
    exam_session, site = _sitting_and_site(session_id, site_id)
    code = package.release_code_for(db.session, exam_session, site.code)
    return render_template("sitenode/release_code.html", exam_session=exam_session, site=site, code=code)


@blueprint.get("/keys")
@role_required(*CENTRE_ROLES)
def keys_page() -> str:
    own = None
    if signing.has_node_key(signing.node_folder()):
        public = signing.load_public_key(signing.node_folder())
        own = {"key": signing.public_key_text(public), "fingerprint": signing.fingerprint(public)}
    rows = db.session.scalars(select(TrustedKey).order_by(TrustedKey.id.desc())).all()
    return render_template("sitenode/keys.html", own=own, rows=rows, is_site=node_role() == SITE)


@blueprint.post("/keys")
@role_required(*CENTRE_ROLES)
def register_key() -> WerkzeugResponse:
    current_scope().check_write()
    public_key = request.form.get("public_key", "")
    try:
        if node_role() == SITE:
            row = keys.register_key(db.session, KIND_CENTRE, "centre", public_key, current_user.actor)
        else:
            code = request.form.get("site_code", "").strip()
            site = db.session.scalar(select(Site).where(Site.code == code))
            if site is not None:
                current_scope().check_centre(site.centre_id, "考点")
            row = keys.register_key(db.session, KIND_SITE, code, public_key, current_user.actor)
        flash(f"已登记公钥，指纹 {row.fingerprint}，请电话核对")
    except DomainError as exc:
        flash(exc.message)
    return redirect(url_for("sitenode.keys_page"))


@blueprint.get("/import")
@role_required(*CENTRE_ROLES)
def import_page() -> str:
    rows = db.session.scalars(select(SittingImport).order_by(SittingImport.id.desc())).all()
    return render_template("sitenode/import.html", rows=rows)


@blueprint.post("/import")
@role_required(*CENTRE_ROLES)
def import_job() -> WerkzeugResponse:
    current_scope().check_write()
    upload = request.files.get("package")
    if upload is None or not upload.filename:
        flash("请选择考试数据包文件")
        return redirect(url_for("sitenode.import_page"))
    params = {"upload": stash_upload(upload.stream, ".zip"), "sitting": request.form.get("sitting", "").strip(),
              "name": upload.filename}
    job = submit_job(node_jobs.IMPORT, params, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


def _imported_sittings() -> list[ExamSession]:
    ids = select(SittingImport.session_id).distinct()
    return list(db.session.scalars(select(ExamSession).where(ExamSession.id.in_(ids)).order_by(ExamSession.starts_at)))


@blueprint.get("/unseal")
@role_required(*CHIEF_PROCTOR_ROLES)
def unseal_page() -> str:
    return render_template("sitenode/unseal.html", sittings=_imported_sittings())


@blueprint.post("/unseal/<int:session_id>")
@role_required(*CHIEF_PROCTOR_ROLES)
def unseal(session_id: int) -> WerkzeugResponse:
    exam_session = db.session.get(ExamSession, session_id)
    if exam_session is None:
        abort(404)
    try:
        result = package.unseal_paper(db.session, exam_session.code, request.form.get("code", ""), current_user.actor)
        flash(f"考试场次 {exam_session.code} 的试卷已解封" + ("" if result["already"] else f"（{result['items']} 题），考生可以开始答题"),
              )
    except DomainError as exc:
        flash(exc.message)
    return redirect(url_for("sitenode.unseal_page"))


# ------------------------------------------------------------------------------------------------ check-in


def _user() -> User:
    return db.session.get(User, current_user.user.id) or abort(403)


def _photo(ticket: Ticket) -> tuple[str, bytes] | None:
    """A ticket's ID photo: the one a package brought (at a site), else its application's (at the centre)."""
    row = db.session.scalar(select(TicketPhoto).where(TicketPhoto.ticket_id == ticket.id))
    if row is not None:
        return row.mime, row.data
    data = ticket_photos(db.session, [ticket]).get(ticket.id)
    if data is None:
        return None
    return ("image/png" if data.startswith(b"\x89PNG") else "image/jpeg"), data


@blueprint.get("/roster")
@role_required(*CHIEF_PROCTOR_ROLES)
def rosters() -> str | WerkzeugResponse:
    user = _user()
    if not may_act_anywhere(user):
        if user.room_id is None:
            authorise_room(user, None)  # refused, naming why
        return redirect(url_for("sitenode.roster", room_id=user.room_id))
    rooms = db.session.scalars(select(Room).join(Site, Site.id == Room.site_id)
                               .where(current_scope().centre_clause(Site.centre_id)).order_by(Site.code, Room.code)).all()
    return render_template("sitenode/rosters.html", rooms=rooms)


@blueprint.get("/rooms/<int:room_id>/roster")
@role_required(*CHIEF_PROCTOR_ROLES)
def roster(room_id: int) -> str:
    authorise_room(_user(), room_id)
    room = db.session.get(Room, room_id) or abort(404)
    tickets = db.session.scalars(
        select(Ticket).join(Seat, Seat.id == Ticket.seat_id).join(ExamSession, ExamSession.id == Ticket.session_id)
        .where(Seat.room_id == room_id, Ticket.status == "active", ExamSession.status != "closed")
        .order_by(ExamSession.starts_at, Seat.number)
    ).all()
    with_photo = set(db.session.scalars(select(TicketPhoto.ticket_id).where(
        TicketPhoto.ticket_id.in_([t.id for t in tickets])))) | set(ticket_photos(db.session, tickets))
    return render_template("sitenode/roster.html", room=room, tickets=tickets, with_photo=with_photo,
                           masked=mask_id_number)


@blueprint.get("/photos/<int:ticket_id>")
@role_required(*CHIEF_PROCTOR_ROLES)
def photo(ticket_id: int) -> Response:
    ticket = db.session.get(Ticket, ticket_id) or abort(404)
    authorise_room(_user(), ticket.seat.room_id if ticket.seat is not None else None)
    found = _photo(ticket)
    if found is None:
        abort(404)
    response = Response(found[1], mimetype=found[0])
    # An uploaded image: never sniffed, never run, never cached beyond this user.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response

"""Skill-assessment screens: the examiner's tablet pages, the chief examiner's decisions, centre staff's sitting
page (progress, printed score sheets, typing a paper sheet in, the Excel import as a job). Thin: parse, authorise,
call an operation, render.

URL table:
  GET  /skills/                                                    my stations and sittings       examiner, chief
  GET  /skills/sittings/<sid>/stations/<st>                         my candidates at my station   examiner
  GET  /skills/sittings/<sid>/stations/<st>/candidates/<cid>        score sheet (tablet)          examiner
  POST /skills/sittings/<sid>/stations/<st>/candidates/<cid>        submit my marks               examiner
  GET  /skills/sittings/<sid>/decisions                             scores beyond the tolerance   chief examiner
  POST /skills/sittings/<sid>/stations/<st>/candidates/<cid>/decide the chief examiner's marks    chief examiner
  GET  /skills/stations                                             stations and score sheets     centre staff
  GET  /skills/sittings                                             skill sittings of the centre  centre staff
  POST /skills/sittings                                             a new skill sitting            centre staff
  POST /skills/sittings/<sid>/setup                                 stations, examiners, chief    centre staff
  GET  /skills/sittings/<sid>                                       a sitting's progress          centre staff
  GET  /skills/sittings/<sid>/stations/<st>/sheet.pdf               printed score sheet           centre staff
  GET|POST /skills/sittings/<sid>/stations/<st>/candidates/<cid>/sheet  type a paper sheet in     centre staff
  POST /skills/sittings/<sid>/import                                Excel import (a job)          centre staff
  POST /skills/sittings/<sid>/absent                                a candidate absent (缺考)      centre staff

An examiner reaches only the stations they are assigned (another station, another sitting: 404), and sees only
their own marks: never the other examiner's, nor the station's score or whether it needs the chief.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.extensions import db
from exam_server.jobs import stash_upload, submit_job
from exam_server.organisations.scope import current_scope
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from exam_server.sessions.sites import check_sitting
from exam_server.skills import jobs as skill_jobs
from exam_server.skills import queries
from exam_server.skills.errors import SkillError
from exam_server.skills.models import (
    EXAMINER,
    NEEDS_CHIEF,
    SHEET,
    SOURCE_LABELS,
    Examiner,
    SkillMark,
    Station,
)
from exam_server.skills.operations import (
    add_candidates,
    check_skill_sitting,
    create_skill_sitting,
    decide,
    is_chief_examiner,
    is_examiner,
    mark_absent,
    record_mark,
    set_up_sitting,
    sitting_candidate,
    sitting_stations,
)
from exam_server.skills.pdf import score_sheet_pdf
from exam_server.skills.sheets import SKILL_LEVELS
from item_bank.db import transaction
from item_bank.kernel import DomainError

blueprint = Blueprint("skills", __name__, url_prefix="/skills")

EXAMINER_ROLES = ("grader", "chief_grader")
STAFF = ("centre_staff",)


def _me() -> User:
    return current_user.user  # a staff principal (role_required let only staff in)


def _skill_sitting(session_id: int) -> ExamSession:
    sitting = db.session.get(ExamSession, session_id)
    if sitting is None:
        abort(404)
    check_skill_sitting(sitting)
    return sitting


def _station(sitting: ExamSession, station_id: int) -> Station:
    station = next((s for s in sitting_stations(db.session, sitting.id) if s.id == station_id), None)
    if station is None:
        abort(404)
    return station


def _my_station(session_id: int, station_id: int) -> tuple[ExamSession, Station]:
    """The sitting and station if the user examines there; 404 otherwise (no hint that it exists)."""
    sitting = _skill_sitting(session_id)
    if not is_examiner(db.session, sitting.id, station_id, _me().id):
        abort(404)
    return sitting, _station(sitting, station_id)


def _staff_sitting(session_id: int, write: bool = False) -> ExamSession:
    sitting = db.session.get(ExamSession, session_id)
    if sitting is None:
        abort(404)
    scope = current_scope()
    check_sitting(scope, sitting)
    check_skill_sitting(sitting)
    if write:
        scope.check_write()
    return sitting


def _values(station: Station) -> list[str]:
    return [request.form.get(f"c{i}", "").strip() for i in range(len(station.criteria))]


def _candidate(sitting: ExamSession, candidate_id: int) -> tuple[Candidate, Ticket]:
    try:
        ticket = sitting_candidate(db.session, sitting, candidate_id)
    except SkillError:
        abort(404)
    return ticket.candidate, ticket


# ---------------------------------------------------------------- examiners


@blueprint.get("/")
@role_required(*EXAMINER_ROLES)
def examine() -> str:
    return render_template("skills/examine.html", assignments=queries.assignments_of(db.session, _me().id))


@blueprint.get("/sittings/<int:session_id>/stations/<int:station_id>")
@role_required(*EXAMINER_ROLES)
def station(session_id: int, station_id: int) -> str:
    sitting, the_station = _my_station(session_id, station_id)
    rows = queries.examiner_rows(db.session, sitting.id, the_station.id, _me().id)
    return render_template("skills/station.html", sitting=sitting, station=the_station, rows=rows)


def _score_page(sitting: ExamSession, the_station: Station, candidate_id: int, values: list[str] | None = None,
                comment: str = "", status: int = 200) -> tuple[str, int]:
    candidate, ticket = _candidate(sitting, candidate_id)
    mine = queries.my_mark(db.session, sitting.id, the_station.id, candidate_id, _me().id)
    rows = queries.examiner_rows(db.session, sitting.id, the_station.id, _me().id)
    following = next((r for r in rows if r.my_total is None and r.candidate_id != candidate_id), None)
    has_photo = queries.candidate_photo(db.session, candidate, sitting.level) is not None
    return render_template("skills/score.html", sitting=sitting, station=the_station, candidate=candidate,
                           ticket=ticket, mine=mine, has_photo=has_photo, values=values, comment=comment, following=following,
                           action=url_for("skills.submit_score", session_id=sitting.id, station_id=the_station.id,
                                          candidate_id=candidate_id)), status


@blueprint.get("/sittings/<int:session_id>/stations/<int:station_id>/candidates/<int:candidate_id>")
@role_required(*EXAMINER_ROLES)
def score(session_id: int, station_id: int, candidate_id: int) -> tuple[str, int]:
    sitting, the_station = _my_station(session_id, station_id)
    return _score_page(sitting, the_station, candidate_id)


@blueprint.get("/sittings/<int:session_id>/stations/<int:station_id>/candidates/<int:candidate_id>/photo")
@role_required(*EXAMINER_ROLES)
def candidate_photo(session_id: int, station_id: int, candidate_id: int) -> WerkzeugResponse:
    """The candidate's ID photo for their station's examiners (an observed assessment checks who performs)."""
    sitting, _ = _my_station(session_id, station_id)
    candidate, _ = _candidate(sitting, candidate_id)
    photo = queries.candidate_photo(db.session, candidate, sitting.level)
    if photo is None:
        abort(404)
    response = send_file(BytesIO(photo[1]), mimetype=photo[0])
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.post("/sittings/<int:session_id>/stations/<int:station_id>/candidates/<int:candidate_id>")
@role_required(*EXAMINER_ROLES)
def submit_score(session_id: int, station_id: int, candidate_id: int) -> WerkzeugResponse | tuple[str, int]:
    sitting, the_station = _my_station(session_id, station_id)
    _candidate(sitting, candidate_id)
    values, comment = _values(the_station), request.form.get("comment", "")
    try:
        record_mark(db.session, sitting.id, the_station.id, candidate_id, _me(), values, comment,
                    current_user.actor)
    except SkillError as exc:
        if exc.status == 404:
            raise
        flash(exc.message)  # the marks typed stay on the page
        return _score_page(sitting, the_station, candidate_id, values, comment, exc.status)
    flash("评分已提交。")
    rows = queries.examiner_rows(db.session, sitting.id, the_station.id, _me().id)
    following = next((r for r in rows if r.my_total is None), None)
    if following is not None:
        return redirect(url_for("skills.score", session_id=sitting.id, station_id=the_station.id,
                                candidate_id=following.candidate_id))
    return redirect(url_for("skills.station", session_id=sitting.id, station_id=the_station.id))


# ---------------------------------------------------------------- the chief examiner


def _chief_sitting(session_id: int) -> ExamSession:
    sitting = _skill_sitting(session_id)
    if not is_chief_examiner(db.session, sitting.id, _me().id):
        abort(404)
    return sitting


def _decisions_page(sitting: ExamSession, typed: dict[str, Any] | None = None, status: int = 200) -> tuple[str, int]:
    lines = queries.station_scores(db.session, sitting.id, NEEDS_CHIEF)
    decided = [line for line in queries.station_scores(db.session, sitting.id) if line.decision is not None]
    return render_template("skills/decisions.html", sitting=sitting, lines=lines, decided=decided,
                           typed=typed or {}), status


@blueprint.get("/sittings/<int:session_id>/decisions")
@role_required("chief_grader")
def decisions(session_id: int) -> tuple[str, int]:
    return _decisions_page(_chief_sitting(session_id))


@blueprint.post("/sittings/<int:session_id>/stations/<int:station_id>/candidates/<int:candidate_id>/decide")
@role_required("chief_grader")
def decide_view(session_id: int, station_id: int, candidate_id: int) -> WerkzeugResponse | tuple[str, int]:
    sitting = _chief_sitting(session_id)
    the_station = _station(sitting, station_id)
    values, reason = _values(the_station), request.form.get("reason", "")
    try:
        decide(db.session, sitting.id, the_station.id, candidate_id, _me(), values, reason, current_user.actor)
    except SkillError as exc:
        if exc.status == 404:
            raise
        flash(exc.message)
        return _decisions_page(sitting, {"key": f"{the_station.id}-{candidate_id}", "values": values,
                                         "reason": reason}, exc.status)
    flash("主考裁定已保存。")
    return redirect(url_for("skills.decisions", session_id=sitting.id))


# ---------------------------------------------------------------- centre staff


@blueprint.get("/stations")
@role_required(*STAFF)
def stations() -> str:
    return render_template("skills/stations.html", stations=queries.current_stations(db.session))


def _sittings_page(status: int = 200, **typed: Any) -> tuple[str, int]:
    scope = current_scope()
    visible = scope.centre_clause(ExamSession.centre_id)
    sources = list(db.session.scalars(select(ExamSession).where(visible, ExamSession.level.in_(SKILL_LEVELS),
                                                                 ExamSession.part != "skill")
                                      .order_by(ExamSession.starts_at.desc()).limit(50)))
    return render_template("skills/sittings.html", sittings=queries.skill_sittings(db.session, visible),
                           sources=sources, typed=typed), status


@blueprint.get("/sittings")
@role_required(*STAFF)
def sittings() -> tuple[str, int]:
    return _sittings_page()


@blueprint.post("/sittings")
@role_required(*STAFF)
def create_sitting_view() -> WerkzeugResponse | tuple[str, int]:
    """A new skill sitting of the level of a sitting of the centre, its candidates ticketed."""
    scope = current_scope()
    scope.check_write()
    form = request.form
    source = db.session.get(ExamSession, int(form.get("source", "0") or 0)) if form.get("source", "").isdigit() else None
    try:
        if source is None:
            raise SkillError("请选择要编入考生的场次（同等级的理论知识场次）")
        check_sitting(scope, source)
        try:
            moment = dt.datetime.strptime(f"{form.get('date', '')} {form.get('start', '')}", "%Y-%m-%d %H:%M")
            hours = float(form.get("hours", "4"))
        except ValueError:
            raise SkillError("日期、时间或时长格式不对（如 2026-12-21、09:00、4）") from None
        code = form.get("code", "").strip()
        if not code:
            raise SkillError("请填写场次编号")
        with transaction(db.session):
            sitting = create_skill_sitting(
                db.session, code=code, name=form.get("name", "").strip() or f"{source.level}级操作技能（考站实操）{code}",
                level=source.level, starts_at=moment.replace(tzinfo=DISPLAY_ZONE).astimezone(dt.UTC),
                duration_s=max(1, int(hours * 3600)), centre_id=source.centre_id, actor=current_user.actor)
            ids = list(db.session.scalars(select(Ticket.candidate_id).where(Ticket.session_id == source.id,
                                                                           Ticket.status == "active")))
            made = add_candidates(db.session, sitting, ids, current_user.actor)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        flash(exc.message)
        return _sittings_page(exc.status, **form.to_dict())
    flash(f"已新建操作技能场次 {sitting.code}，编入考生 {made} 人。请安排考站、考评员和主考。")
    return redirect(url_for("skills.sitting", session_id=sitting.id))


@blueprint.post("/sittings/<int:session_id>/setup")
@role_required(*STAFF)
def setup(session_id: int) -> WerkzeugResponse:
    """The sitting's stations (in order), two examiners at each, and its chief examiner."""
    the_sitting = _staff_sitting(session_id, write=True)
    people = {str(u.id): u for u in _examiner_choices()}
    plan = []
    try:
        for station in queries.current_stations(db.session, the_sitting.level):
            if not request.form.get(f"use_{station.code}"):
                continue
            chosen = [people.get(request.form.get(f"{n}_{station.code}", "")) for n in ("ex1", "ex2")]
            if None in chosen:
                raise SkillError(f"考站 {station.code} 须选择两名考评员")
            plan.append((station.code, [u for u in chosen if u is not None]))
        chief = people.get(request.form.get("chief", ""))
        if chief is None:
            raise SkillError("请选择主考")
        set_up_sitting(db.session, the_sitting, plan, chief, current_user.actor)
        flash(f"已安排 {len(plan)} 个考站及其考评员，主考 {chief.display_name}。")
    except SkillError as exc:
        if exc.status == 404:
            raise
        flash(exc.message)
    return redirect(url_for("skills.sitting", session_id=the_sitting.id))


def _examiner_choices() -> list[User]:
    """The active graders and chief graders of the account's centre (the province's: everyone's)."""
    scope = current_scope()
    users = db.session.scalars(select(User).where(User.active.is_(True), scope.centre_clause(User.organisation_id))
                               .order_by(User.username))
    return [u for u in users if u.has_role(*EXAMINER_ROLES) and "admin" not in u.roles]


@blueprint.get("/sittings/<int:session_id>")
@role_required(*STAFF)
def sitting(session_id: int) -> str:
    the_sitting = _staff_sitting(session_id)
    lines = queries.station_scores(db.session, the_sitting.id)
    examiners = queries.examiners_of(db.session, the_sitting.id)
    scored = any(line.marks for line in lines)
    return render_template("skills/sitting.html", sitting=the_sitting, lines=lines,
                           progress=queries.progress(lines), stations=sitting_stations(db.session, the_sitting.id),
                           examiners=examiners, sources=SOURCE_LABELS, scored=scored,
                           choices=[] if scored else _examiner_choices(),
                           levels_stations=[] if scored else queries.current_stations(db.session, the_sitting.level),
                           assigned={(e.station_id, i % 2): e.user_id for i, e in enumerate(
                               [e for e in examiners if e.role == EXAMINER])},
                           chief_id=next((e.user_id for e in examiners if e.role != EXAMINER), None))


@blueprint.get("/sittings/<int:session_id>/stations/<int:station_id>/sheet.pdf")
@role_required(*STAFF)
def sheet_pdf(session_id: int, station_id: int) -> Response:
    the_sitting = _staff_sitting(session_id)
    the_station = _station(the_sitting, station_id)
    rows = queries.examiner_rows(db.session, the_sitting.id, the_station.id, 0)
    data = score_sheet_pdf(the_sitting, the_station, [(r.ticket, r.name) for r in rows])
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename=score-sheet-{the_station.code}.pdf"})


def _station_examiners(sitting: ExamSession, station_id: int) -> list[User]:
    return list(db.session.scalars(select(User).join(Examiner, Examiner.user_id == User.id).where(
        Examiner.session_id == sitting.id, Examiner.station_id == station_id, Examiner.role == EXAMINER)
        .order_by(Examiner.id)))


@blueprint.route("/sittings/<int:session_id>/stations/<int:station_id>/candidates/<int:candidate_id>/sheet",
                 methods=["GET", "POST"])
@role_required(*STAFF)
def enter_sheet(session_id: int, station_id: int, candidate_id: int) -> WerkzeugResponse | tuple[str, int]:
    the_sitting = _staff_sitting(session_id, write=request.method == "POST")
    the_station = _station(the_sitting, station_id)
    candidate, ticket = _candidate(the_sitting, candidate_id)
    people = _station_examiners(the_sitting, the_station.id)
    values: list[str] | None = None
    status = 200
    if request.method == "POST":
        values = _values(the_station)
        examiner = next((u for u in people if str(u.id) == request.form.get("examiner_id")), None)
        try:
            if examiner is None:
                raise SkillError("请选择这张评分表的考评员")
            record_mark(db.session, the_sitting.id, the_station.id, candidate_id, examiner, values,
                        request.form.get("comment", ""), current_user.actor, source=SHEET)
        except SkillError as exc:
            if exc.status == 404:
                raise
            flash(exc.message)
            status = exc.status
        else:
            flash(f"已录入 {examiner.display_name} 的纸质评分表。")
            return redirect(url_for("skills.sitting", session_id=the_sitting.id))
    done = {m.examiner_id for m in db.session.scalars(select(SkillMark).where(
        SkillMark.session_id == the_sitting.id, SkillMark.station_id == the_station.id,
        SkillMark.candidate_id == candidate_id))}
    return render_template("skills/enter_sheet.html", sitting=the_sitting, station=the_station, candidate=candidate,
                           ticket=ticket, people=[u for u in people if u.id not in done], values=values,
                           chosen=request.form.get("examiner_id", ""), comment=request.form.get("comment", "")), status


@blueprint.post("/sittings/<int:session_id>/absent")
@role_required(*STAFF)
def absent(session_id: int) -> WerkzeugResponse:
    the_sitting = _staff_sitting(session_id, write=True)
    number = request.form.get("ticket", "").strip()
    ticket = db.session.scalar(select(Ticket).where(Ticket.session_id == the_sitting.id, Ticket.number == number))
    if ticket is None:
        flash(f"准考证号 {number or '（空）'} 不属于本场次。")
    else:
        try:
            mark_absent(db.session, the_sitting.id, ticket.candidate_id, request.form.get("reason", ""),
                        current_user.actor)
            flash(f"准考证 {number}（{ticket.candidate.name}）已记为缺考。")
        except SkillError as exc:
            flash(exc.message)
    return redirect(url_for("skills.sitting", session_id=the_sitting.id))


@blueprint.post("/sittings/<int:session_id>/import")
@role_required(*STAFF)
def import_scores(session_id: int) -> WerkzeugResponse:
    the_sitting = _staff_sitting(session_id, write=True)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的 Excel 文件（.xlsx）。")
        return redirect(url_for("skills.sitting", session_id=the_sitting.id))
    suffix = Path(upload.filename).suffix.lower()
    if suffix != ".xlsx":
        flash(f"只能导入 .xlsx 文件，{upload.filename} 不是。")
        return redirect(url_for("skills.sitting", session_id=the_sitting.id))
    token = stash_upload(upload.stream, suffix)
    job = submit_job(skill_jobs.IMPORT_SCORES, {"upload": token, "name": upload.filename,
                                                "sitting_id": the_sitting.id}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))

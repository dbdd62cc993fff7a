"""Centre staff set up the places of a sitting and print its paper.

URL table (centre staff unless noted; each within their centre, sessions/sites.py and organisations/scope.py:
the province acts on every centre's places, the police read them):
  GET  /centre/sites                               sites (with centre and filing number), rooms, seats, proctors
  POST /centre/sites                               create a site (in the account's centre, or the one chosen)
  POST /centre/sites/<site>                        change a site's name, filing number, centre, city, address
  POST /centre/sites/<site>/rooms                  create a room with seats
  POST /centre/rooms/<room>/seats                  set a room's number of seats
  POST /centre/rooms/<room>/proctor                put a proctor in charge of a room
  GET  /centre/sessions/<session>/seating          who sits where; seat the unseated
  POST /centre/sessions/<session>/seating          seat every unseated candidate in the chosen rooms
  POST /centre/tickets/<ticket>/seat               move one candidate to another seat
  GET  /centre/sessions/<session>/tickets.pdf      one room's admission tickets (?room=)
  POST /centre/sessions/<session>/tickets.pdf      the whole sitting's tickets (a job: /jobs/<id>)
  POST /centre/sessions/<session>/seating-lists    every room's seating list, zipped (a job)
  GET  /centre/sessions/<session>/rooms/<room>/seating.pdf   a room's seating list
  GET  /my-ticket.pdf                              the logged-in candidate's own ticket
  GET  /centre/sittings, POST /centre/sittings, GET /centre/sittings/<session>, POST .../schedule, .../changes:
       sittings staff create and their schedule (below)

A refused set-up shows its page again with the reason (400); a missing PDF font is the error page (503).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from urllib.parse import quote

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import candidate_required, role_required
from exam_server.core.models import User
from exam_server.core.timefmt import DISPLAY_ZONE, local
from exam_server.extensions import db
from exam_server.jobs import submit_job
from exam_server.organisations import operations as org_ops
from exam_server.organisations.scope import current_scope
from exam_server.sessions import (
    accounts,  # noqa: F401  (registers ticket logins with core's login)
    scheduling,
)
from exam_server.sessions import jobs as sessions_jobs
from exam_server.sessions import operations as ops
from exam_server.sessions import sites as site_ops
from exam_server.sessions.models import TIMINGS, ExamSession, Room, Seat, Site, Ticket
from exam_server.sessions.pdf import LEVELS, PARTS, seating_list_pdf, tickets_pdf
from item_bank.models import Form

blueprint = Blueprint("sessions", __name__)


def _int_field(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _pdf(data: bytes, filename: str) -> WerkzeugResponse:
    response = WerkzeugResponse(data, mimetype="application/pdf")
    # RFC 5987: Chinese file names survive every browser.
    response.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    return response


# ---------------------------------------------------------------- sites, rooms, seats


def _sites_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    sites = db.session.scalars(
        site_ops.sites_query(scope).options(joinedload(Site.rooms).joinedload(Room.seats))
    ).unique().all()
    # The centre's own proctors (an account's organisation is a centre id, so the centre clause applies).
    proctors = [u for u in db.session.scalars(
        select(User).where(User.active.is_(True), scope.centre_clause(User.organisation_id)).order_by(User.username)
    ) if "proctor" in u.roles]
    by_room: dict[int, list[User]] = {}
    for user in proctors:
        if user.room_id is not None:
            by_room.setdefault(user.room_id, []).append(user)
    exam_sessions = db.session.scalars(site_ops.sittings_query(scope).limit(20)).all()
    return render_template("sessions/sites.html", sites=sites, proctors=proctors, by_room=by_room,
                           exam_sessions=exam_sessions, error=error, scope=scope,
                           centres=org_ops.centres(db.session, scope)), status


@blueprint.get("/centre/sites")
@role_required("centre_staff", "province", "police")
def sites() -> tuple[str, int]:
    return _sites_page()


def _change(change: Callable[[], str], refused: Callable[[str, int], tuple[str, int]],
            then: str) -> WerkzeugResponse | tuple[str, int]:
    """Run a set-up `change` (an operation that commits); flash what it says and go to `then`, or show the
    page again with why it was refused."""
    try:
        done = change()
    except ops.SessionSetupError as exc:
        db.session.rollback()
        return refused(exc.message, exc.status)
    flash(done)
    return redirect(then)


@blueprint.post("/centre/sites")
@role_required("centre_staff", "province")
def create_site() -> WerkzeugResponse | tuple[str, int]:
    def change() -> str:
        site = site_ops.create_site(
            db.session, code=request.form.get("code", ""), name=request.form.get("name", ""),
            city=request.form.get("city", ""), address=request.form.get("address", ""),
            filing_number=request.form.get("filing_number", ""), centre_id=_int_field("centre_id"),
            actor=current_user.actor, scope=current_scope(),
        )
        return f"已创建考点 {site.name}。"

    return _change(change, _sites_page, url_for("sessions.sites"))


def _site(site_id: int) -> Site:
    """A site of the account's centre (404 if none, 403 if another centre's)."""
    site = db.session.get(Site, site_id) or abort(404)
    site_ops.check_site(current_scope(), site)
    return site


def _room(room_id: int) -> Room:
    """A room of a site of the account's centre, for a change (the police only read)."""
    room = db.session.get(Room, room_id) or abort(404)
    scope = current_scope()
    site_ops.check_room(scope, room)
    scope.check_write()
    return room


@blueprint.post("/centre/sites/<int:site_id>")
@role_required("centre_staff", "province")
def update_site(site_id: int) -> WerkzeugResponse | tuple[str, int]:
    site = _site(site_id)

    def change() -> str:
        site_ops.update_site(
            db.session, site, name=request.form.get("name"), filing_number=request.form.get("filing_number"),
            centre_id=_int_field("centre_id"), city=request.form.get("city"), address=request.form.get("address"),
            actor=current_user.actor, scope=current_scope(),
        )
        return f"已保存考点 {site.name}。"

    return _change(change, _sites_page, url_for("sessions.sites"))


@blueprint.post("/centre/sites/<int:site_id>/rooms")
@role_required("centre_staff", "province")
def create_room(site_id: int) -> WerkzeugResponse | tuple[str, int]:
    site = _site(site_id)
    current_scope().check_write()

    def change() -> str:
        room = ops.create_room(db.session, site, code=request.form.get("code", ""),
                               name=request.form.get("name", ""), seats=_int_field("seats") or 0,
                               actor=current_user.actor)
        return f"已创建考场 {site.name} {room.name}。"

    return _change(change, _sites_page, url_for("sessions.sites"))


@blueprint.post("/centre/rooms/<int:room_id>/seats")
@role_required("centre_staff", "province")
def set_seats(room_id: int) -> WerkzeugResponse | tuple[str, int]:
    room = _room(room_id)

    def change() -> str:
        ops.set_seat_count(db.session, room, _int_field("seats") or 0, current_user.actor)
        return f"{room.name} 现有 {len(room.seats)} 个座位。"

    return _change(change, _sites_page, url_for("sessions.sites"))


@blueprint.post("/centre/rooms/<int:room_id>/proctor")
@role_required("centre_staff", "province")
def set_proctor(room_id: int) -> WerkzeugResponse | tuple[str, int]:
    room = _room(room_id)
    user_id = _int_field("user_id")
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        return _sites_page("请选择监考员。", 400)
    current_scope().check_centre(user.organisation_id, "监考员账号")

    def change() -> str:
        ops.assign_proctor(db.session, user, room, current_user.actor)
        return f"{user.display_name} 现在监考 {room.site.name} {room.name}。"

    return _change(change, _sites_page, url_for("sessions.sites"))


# ---------------------------------------------------------------- seating a sitting


def _exam_session(session_id: int) -> ExamSession:
    exam_session = db.session.get(ExamSession, session_id)
    if exam_session is None:
        abort(404)
    site_ops.check_sitting(current_scope(), exam_session)
    return exam_session


def _seating_page(exam_session: ExamSession, error: str | None = None, status: int = 200) -> tuple[str, int]:
    tickets = ops.seating(db.session, exam_session)
    rooms = db.session.scalars(
        site_ops.rooms_query(current_scope()).options(joinedload(Room.site), joinedload(Room.seats))
    ).unique().all()
    used: dict[int, int] = {}
    for ticket in tickets:
        if ticket.seat is not None:
            used[ticket.seat.room_id] = used.get(ticket.seat.room_id, 0) + 1
    unseated = sum(1 for t in tickets if t.seat is None)
    return render_template("sessions/seating.html", exam_session=exam_session, tickets=tickets, rooms=rooms,
                           used=used, unseated=unseated, error=error), status


@blueprint.get("/centre/sessions/<int:session_id>/seating")
@role_required("centre_staff")
def seating(session_id: int) -> tuple[str, int]:
    return _seating_page(_exam_session(session_id))


@blueprint.post("/centre/sessions/<int:session_id>/seating")
@role_required("centre_staff")
def seat_candidates(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    room_ids = [int(v) for v in request.form.getlist("room_id") if v.isdigit()]
    rooms = [r for r in (db.session.get(Room, i) for i in room_ids) if r is not None]
    for room in rooms:
        site_ops.check_room(current_scope(), room)
    if not rooms:
        return _seating_page(exam_session, "请至少选择一个考场。", 400)
    def change() -> str:
        seated = ops.seat_candidates(db.session, exam_session, rooms, current_user.actor)
        return f"已为 {len(seated)} 名考生安排座位。"

    return _change(change, partial(_seating_page, exam_session), url_for("sessions.seating", session_id=session_id))


@blueprint.post("/centre/tickets/<int:ticket_id>/seat")
@role_required("centre_staff")
def move_ticket(ticket_id: int) -> WerkzeugResponse | tuple[str, int]:
    ticket = db.session.get(Ticket, ticket_id) or abort(404)
    site_ops.check_sitting(current_scope(), ticket.session)
    room_id, number = _int_field("room_id"), _int_field("seat")
    seat = db.session.scalar(select(Seat).where(Seat.room_id == room_id, Seat.number == number))
    if seat is None:
        return _seating_page(ticket.session, f"没有这个座位（考场 {room_id}，{number} 号）。", 400)
    site_ops.check_room(current_scope(), seat.room)
    def change() -> str:
        ops.assign_seat(db.session, ticket, seat, current_user.actor)
        return f"考生 {ticket.candidate.name} 已调整到 {seat.room.name} {seat.number} 号。"

    return _change(change, partial(_seating_page, ticket.session),
                   url_for("sessions.seating", session_id=ticket.session_id))


# ---------------------------------------------------------------- printing


@blueprint.get("/centre/sessions/<int:session_id>/tickets.pdf")
@role_required("centre_staff")
def tickets(session_id: int) -> WerkzeugResponse:
    """One room's tickets at once; the whole sitting's are a job (POST), sent there from here."""
    exam_session = _exam_session(session_id)
    if not request.args.get("room", "").isdigit():
        flash("整场准考证在后台生成：请点击「生成全部准考证」，完成后在任务页下载。")
        return redirect(url_for("sessions.seating", session_id=session_id))
    room = db.session.get(Room, int(request.args["room"])) or abort(404)
    site_ops.check_room(current_scope(), room)
    data = tickets_pdf(ops.seating(db.session, exam_session, room))
    return _pdf(data, f"准考证-{exam_session.code}-{room.code}.pdf")


@blueprint.post("/centre/sessions/<int:session_id>/tickets.pdf")
@role_required("centre_staff")
def tickets_job(session_id: int) -> WerkzeugResponse:
    _exam_session(session_id)
    job = submit_job(sessions_jobs.TICKETS, {"session_id": session_id}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/centre/sessions/<int:session_id>/seating-lists")
@role_required("centre_staff")
def seating_lists_job(session_id: int) -> WerkzeugResponse:
    _exam_session(session_id)
    job = submit_job(sessions_jobs.SEATING_LISTS, {"session_id": session_id}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.get("/centre/sessions/<int:session_id>/rooms/<int:room_id>/seating.pdf")
@role_required("centre_staff", "proctor")
def seating_pdf(session_id: int, room_id: int) -> WerkzeugResponse:
    exam_session = db.session.get(ExamSession, session_id) or abort(404)
    room = db.session.get(Room, room_id) or abort(404)
    user = db.session.get(User, current_user.user.id)
    if user is None or not (user.has_role("centre_staff") or user.room_id == room.id):
        abort(403)
    if user.room_id != room.id:  # centre staff: their centre's sitting and room (a proctor: their own room)
        site_ops.check_sitting(current_scope(), exam_session)
        site_ops.check_room(current_scope(), room)
    data = seating_list_pdf(exam_session, room, ops.seating(db.session, exam_session, room))
    return _pdf(data, f"座位表-{exam_session.code}-{room.site.code}-{room.code}.pdf")


@blueprint.get("/my-ticket.pdf")
@candidate_required
def my_ticket() -> WerkzeugResponse:
    """A candidate prints their own admission ticket."""
    ticket = current_user.ticket
    data = tickets_pdf([ticket])
    return _pdf(data, f"准考证-{ticket.number}.pdf")


# ---------------------------------------------------------------- sittings staff create, and their schedule
#   GET  /centre/sittings                            the sittings; the form creating one
#   POST /centre/sittings                            create a sitting (forms, rooms, date, start/end, rules)
#   GET  /centre/sittings/<session>                  its rules, rooms, schedule, exemptions; schedule and change it
#   POST /centre/sittings/<session>/schedule         schedule approved applications by unit, city or ids (a job)
#   POST /centre/sittings/<session>/changes          withdraw, accommodate or move one candidate (until it opens)


def _sittings_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    rooms = db.session.scalars(
        site_ops.rooms_query(scope).options(joinedload(Room.site), joinedload(Room.seats))).unique().all()
    forms = db.session.scalars(select(Form).where(Form.status == "locked").order_by(Form.code)).all()
    sittings = db.session.scalars(site_ops.sittings_query(scope).limit(100)).all()
    return render_template("sessions/sittings.html", sittings=sittings, rooms=rooms, forms=forms, timings=TIMINGS,
                           error=error, form=request.form, levels=LEVELS, parts=PARTS,
                           statuses=SITTING_STATUS), status


@blueprint.get("/centre/sittings")
@role_required("centre_staff", "province")
def sittings() -> tuple[str, int]:
    return _sittings_page()


# A sitting's stored status in words for its list (the simulation closes its past sittings).
SITTING_STATUS = {"scheduled": "已编排", "closed": "已结束"}


def _beijing(date: str, hhmm: str) -> dt.datetime:
    try:
        moment = dt.datetime.strptime(f"{date.strip()} {hhmm.strip()}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise ops.SessionSetupError(f"日期或时间格式不对：{date} {hhmm}（应为 2026-12-20 和 09:00）") from None
    return moment.replace(tzinfo=DISPLAY_ZONE).astimezone(dt.UTC)


@blueprint.post("/centre/sittings")
@role_required("centre_staff", "province")
def create_sitting() -> WerkzeugResponse | tuple[str, int]:
    scope = current_scope()
    scope.check_write()

    def change() -> str:
        rooms = [db.session.get(Room, int(v)) for v in request.form.getlist("room_id") if v.isdigit()]
        for room in rooms:
            if room is not None:
                site_ops.check_room(scope, room)
        forms = [db.session.get(Form, int(v)) for v in request.form.getlist("form_id") if v.isdigit()]
        form = request.form
        exam_session = scheduling.create_sitting(
            db.session, code=form.get("code", ""), name=form.get("name", ""),
            forms=[f for f in forms if f is not None], rooms=[r for r in rooms if r is not None],
            starts_at=_beijing(form.get("date", ""), form.get("start", "")),
            ends_at=_beijing(form.get("date", ""), form.get("end", "")), actor=current_user.actor,
            rules=ops.SittingRules(timing=form.get("timing", "common"), late_entry_min=_int_field("late_entry_min") or 0,
                                   min_submit_min=_int_field("min_submit_min") or 0,
                                   password_slip=bool(form.get("password_slip"))),
        )
        return f"已创建考试场次 {exam_session.code}。"

    return _change(change, _sittings_page, url_for("sessions.sittings"))


def _sitting_page(exam_session: ExamSession, error: str | None = None, status: int = 200) -> tuple[str, int]:
    tickets = ops.seating(db.session, exam_session)
    return render_template(
        "sessions/sitting.html", exam_session=exam_session, tickets=tickets, timings=TIMINGS,
        rooms=scheduling.sitting_rooms(exam_session), exemptions=scheduling.exemptions(db.session, exam_session),
        opened=scheduling.sitting_opened(db.session, exam_session), units=org_ops.units(db.session, current_scope()),
        cities=org_ops.cities(db.session), error=error, local=local, levels=LEVELS, parts=PARTS,
    ), status


@blueprint.get("/centre/sittings/<int:session_id>")
@role_required("centre_staff", "province")
def sitting(session_id: int) -> tuple[str, int]:
    return _sitting_page(_exam_session(session_id))


@blueprint.post("/centre/sittings/<int:session_id>/schedule")
@role_required("centre_staff", "province")
def schedule_sitting(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    current_scope().check_write()
    unit_ids = [int(v) for v in request.form.getlist("unit_id") if v.isdigit()]
    city_id = _int_field("city_id")
    ids = [int(v) for v in request.form.get("application_ids", "").replace("，", ",").replace(" ", ",").split(",")
           if v.strip().isdigit()]
    if not (unit_ids or city_id or ids):
        return _sitting_page(exam_session, "请选择单位或城市，或填写申请编号。", 400)
    job = submit_job(sessions_jobs.SCHEDULE, {"session_id": session_id, "unit_ids": unit_ids, "city_id": city_id,
                                              "application_ids": ids}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/centre/sittings/<int:session_id>/changes")
@role_required("centre_staff", "province")
def change_schedule(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    current_scope().check_write()
    number = request.form.get("number", "").strip()
    ticket = db.session.scalar(select(Ticket).where(Ticket.session_id == exam_session.id, Ticket.number == number))
    if ticket is None:
        return _sitting_page(exam_session, f"本场次没有准考证号 {number or '（未填写）'}。", 400)
    action, reason = request.form.get("action", ""), request.form.get("reason", "")

    def change() -> str:
        if action == "withdraw":
            scheduling.withdraw(db.session, ticket, current_user.actor, reason)
            return f"已撤销考生 {ticket.candidate.name}（{ticket.number}）的安排。"
        if action == "accommodation":
            scheduling.set_accommodation(db.session, ticket, extra_min=_int_field("extra_min") or 0,
                                         separate_room=bool(request.form.get("separate_room")), reason=reason,
                                         actor=current_user.actor)
            return f"已登记考生 {ticket.candidate.name} 的特殊安排。"
        if action == "move":
            seat = db.session.scalar(select(Seat).where(Seat.room_id == _int_field("room_id"),
                                                        Seat.number == _int_field("seat")))
            if seat is None:
                raise ops.SessionSetupError("没有这个座位。")
            scheduling.move(db.session, ticket, seat, current_user.actor)
            return f"考生 {ticket.candidate.name} 已调整到 {seat.room.name} {seat.number} 号。"
        raise ops.SessionSetupError(f"未知的操作：{action}")

    return _change(change, partial(_sitting_page, exam_session),
                   url_for("sessions.sitting", session_id=session_id))

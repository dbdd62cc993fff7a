"""Background jobs of sittings: a whole sitting's admission tickets and every room's seating list are PDF
batches made in the worker (one room's PDF, and `examctl print-tickets`, are still made where asked)."""

from __future__ import annotations

import zipfile
from typing import Any

from exam_server.jobs import JobContext, job_handler
from exam_server.sessions import operations as ops
from exam_server.sessions.credentials import app_secret, printable_passwords
from exam_server.sessions.intake import applicants_for, mark_ticketed, ticket_photos
from exam_server.sessions.models import ExamSession
from exam_server.sessions.operations import SessionSetupError
from exam_server.sessions.pdf import password_slips_pdf, seating_list_pdf, tickets_pdf
from exam_server.sessions.scheduling import schedule

TICKETS = "sessions.tickets"
SEATING_LISTS = "sessions.seating_lists"
ROLES = ("centre_staff",)


def _exam_session(ctx: JobContext, session_id: int) -> ExamSession:
    exam_session = ctx.session.get(ExamSession, session_id)
    if exam_session is None:
        raise SessionSetupError(f"考试场次 {session_id} 不存在。", status=404)
    return exam_session


@job_handler(TICKETS, label="打印整场准考证", roles=ROLES)
def tickets(ctx: JobContext, *, session_id: int) -> dict[str, Any]:
    """Every admission ticket of the sitting in one PDF, two to an A4 page, carrying the initial passwords of the
    tickets not yet used to log in (sessions/credentials.py), or a separate PDF of password slips."""
    exam_session = _exam_session(ctx, session_id)
    ctx.progress(0.05, "正在读取考生和座位")
    rows = [t for t in ops.seating(ctx.session, exam_session) if t.status == "active"]
    ctx.check_cancelled()
    passwords = printable_passwords(rows, app_secret())
    photos = ticket_photos(ctx.session, rows)
    ctx.session.commit()  # the read is done: the PDF is drawn holding no snapshot
    ctx.check_cancelled()
    ctx.progress(0.6, f"正在生成 {len(rows)} 张准考证")
    lines = [f"考试场次 {exam_session.code}：已生成 {len(rows)} 张准考证（{len(passwords)} 张印有初始密码；"
             "已登录过的考生不再印出密码，忘记时由监考员重置），请下载后打印。"]
    if exam_session.password_slip:
        ctx.output(f"准考证-{exam_session.code}.pdf").write_bytes(tickets_pdf(rows, photos=photos))
        ctx.output(f"密码条-{exam_session.code}.pdf").write_bytes(password_slips_pdf(rows, passwords))
        lines.append("本场次的初始密码印在单独的密码条上。")
    else:
        ctx.output(f"准考证-{exam_session.code}.pdf").write_bytes(tickets_pdf(rows, passwords, photos))
    return {"lines": lines, "tickets": len(rows), "passwords": len(passwords)}


@job_handler(SEATING_LISTS, label="打印全部座位表", roles=ROLES)
def seating_lists(ctx: JobContext, *, session_id: int) -> dict[str, Any]:
    """The seating list of every room the sitting uses, one PDF per room, in one zip."""
    exam_session = _exam_session(ctx, session_id)
    rooms = ops.rooms_of_session(ctx.session, exam_session)
    if not rooms:
        raise SessionSetupError(f"考试场次 {exam_session.code} 还没有安排座位，没有座位表可打印。")
    path = ctx.output(f"座位表-{exam_session.code}.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, room in enumerate(rooms):
            ctx.check_cancelled()
            ctx.progress(index / len(rooms), f"正在生成 {room.site.name} {room.name} 的座位表（{index + 1}/{len(rooms)}）")
            pdf = seating_list_pdf(exam_session, room, ops.seating(ctx.session, exam_session, room))
            archive.writestr(f"座位表-{exam_session.code}-{room.site.code}-{room.code}.pdf", pdf)
    return {"lines": [f"考试场次 {exam_session.code}：已生成 {len(rooms)} 个考场的座位表（每个考场一个 PDF，打包为 zip）。"],
            "rooms": len(rooms)}


SCHEDULE = "sessions.schedule"


@job_handler(SCHEDULE, label="编排考生（准考证与座位）", roles=ROLES)
def schedule_sitting(
    ctx: JobContext, *, session_id: int, unit_ids: list[int] | None = None, city_id: int | None = None,
    application_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Schedule the approved applicants chosen (by unit, city or hand-picked) into the sitting's seats, list the
    theory-exempt, mark the applications ticketed, and prepare the attempts (sessions/scheduling.py)."""
    exam_session = _exam_session(ctx, session_id)
    ctx.progress(0.05, "正在读取通过复审的申请")
    applicants = applicants_for(ctx.session, exam_session, unit_ids=unit_ids or None, city_id=city_id,
                                application_ids=application_ids or None)
    if not applicants:
        raise SessionSetupError("没有符合条件、通过复审的申请可以编排（请检查等级、科目和所选单位或城市）。",
                                code="nothing_to_schedule")
    ctx.check_cancelled()
    ctx.progress(0.2, f"正在为 {len(applicants)} 名考生安排准考证和座位")
    report = schedule(ctx.session, exam_session, applicants, ctx.actor, secret=app_secret(),
                      on_ticketed=lambda session, ids: mark_ticketed(session, ids, ctx.actor))
    return {"lines": report.lines(exam_session), "scheduled": report.scheduled, "already": report.already,
            "exempt": len(report.exempt)}

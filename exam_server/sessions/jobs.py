"""Background jobs of sittings: a whole sitting's admission tickets and every room's seating list are PDF
batches made in the worker (one room's PDF, and `examctl print-tickets`, are still made where asked)."""

from __future__ import annotations

import zipfile
from typing import Any

from exam_server.jobs import JobContext, job_handler
from exam_server.sessions import operations as ops
from exam_server.sessions.models import ExamSession
from exam_server.sessions.operations import SessionSetupError
from exam_server.sessions.pdf import seating_list_pdf, tickets_pdf

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
    """Every admission ticket of the sitting in one PDF, two to an A4 page."""
    exam_session = _exam_session(ctx, session_id)
    ctx.progress(0.05, "正在读取考生和座位")
    rows = ops.seating(ctx.session, exam_session)
    ctx.session.commit()  # the read is done: the PDF is drawn holding no snapshot
    ctx.check_cancelled()
    ctx.progress(0.2, f"正在生成 {len(rows)} 张准考证")
    ctx.output(f"准考证-{exam_session.code}.pdf").write_bytes(tickets_pdf(rows))
    return {"lines": [f"考试场次 {exam_session.code}：已生成 {len(rows)} 张准考证，请下载后打印。"], "tickets": len(rows)}


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

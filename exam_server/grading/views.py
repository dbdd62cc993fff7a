"""Grading screens: a grader's queue and marking screen, the chief grader's monitor and adjudication,
the defence panel's scoring and the chair's confirmation, and the centre's set-up of theses,
scans and panels for levels 2-1. Thin: parse, authorise, call an operation, render.

URL table:
  GET  /grading/                                  grader's queue                 grader, chief_grader
  GET  /grading/tasks/<code>                      marking / adjudication screen  grader, chief_grader
  POST /grading/tasks/<code>/mark                 submit own mark                grader, chief_grader
  POST /grading/tasks/<code>/adjudicate           chief grader's mark            chief_grader
  POST /grading/tasks/<code>/confirm              panel chair confirms           grader, chief_grader
  GET  /grading/tasks/<code>/documents/<n>        scan page / thesis file        grader, chief_grader
  GET  /grading/monitor                           sessions with grading          chief_grader
  GET  /grading/monitor/<session_id>              progress, agreement, queues    chief_grader
  POST /grading/monitor/<session_id>/assign       assign pending tasks           chief_grader
  POST /grading/monitor/<session_id>/reassign     move a grader's open tasks     chief_grader
  GET  /grading/sessions/<session_id>/setup       theses, scans, panels          centre_staff
  POST /grading/sessions/<session_id>/thesis      upload a thesis                centre_staff
  POST /grading/sessions/<session_id>/scans       upload answer-sheet scans      centre_staff
  POST /grading/sessions/<session_id>/panels      create a defence panel         centre_staff
  POST /grading/sessions/<session_id>/panels/<panel_id>/assign   defences → panel centre_staff
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.delivery.models import Attempt
from exam_server.extensions import db
from exam_server.grading import operations as ops
from exam_server.grading.models import (
    DEFENCE,
    NEEDS_ADJUDICATION,
    OPEN,
    THESIS,
    GradingDocument,
    GradingTask,
    Panel,
    PanelMember,
)
from exam_server.grading.rules import FINAL_RULE_LABELS, PANEL_RULE_LABELS
from exam_server.grading.states import STATUS_LABELS
from exam_server.sessions.models import ExamSession, Ticket

blueprint = Blueprint("grading", __name__, url_prefix="/grading")

GRADERS = ("grader", "chief_grader")
ATTEMPT_LABELS = {
    "scheduled": "未入场", "checked_in": "已入场", "in_progress": "答题中", "paused": "已暂停",
    "submitted": "已交卷", "scored": "已评分", "finalised": "已归档",
}


def _user() -> User:
    return current_user.user


def _exam_session(session_id: int) -> ExamSession:
    exam_session = db.session.get(ExamSession, session_id)
    if exam_session is None:
        abort(404)
    return exam_session


def _refuse(exc: ops.GradingError, back: str) -> WerkzeugResponse | tuple[str, int]:
    db.session.rollback()
    if request.accept_mimetypes.best == "application/json":
        return {"ok": False, "message": exc.message}, exc.status  # type: ignore[return-value]
    if exc.status in (403, 404):
        return render_template("grading/refused.html", message=exc.message), exc.status
    flash(exc.message)
    return redirect(back)


def _float_list(name: str) -> list[str] | None:
    values = request.form.getlist(name)
    return values or None


@blueprint.app_template_filter("mark")
def mark_filter(value: float | None) -> str:
    """A mark as people write it: 16, 16.5 (never 16.0)."""
    if value is None:
        return ""
    return f"{value:g}"


# ---------------------------------------------------------------- graders


@blueprint.get("/")
@role_required(*GRADERS)
def queue() -> str:
    rows = ops.grader_queue(db.session, _user().id)
    open_rows = [r for r in rows if r.status == OPEN]
    done_rows = [r for r in rows if r.status != OPEN]
    return render_template("grading/queue.html", open_rows=open_rows, done_rows=done_rows,
                           kind_labels=ops.KIND_LABELS)


@blueprint.get("/tasks/<code>")
@role_required(*GRADERS)
def task(code: str) -> str | WerkzeugResponse | tuple[str, int]:
    try:
        view = ops.task_view(db.session, code, _user())
    except ops.GradingError as exc:
        return _refuse(exc, url_for("grading.queue"))
    remaining = [r for r in ops.grader_queue(db.session, _user().id) if r.status == OPEN and r.code != view.code]
    return render_template(
        "grading/task.html", view=view, status_labels=STATUS_LABELS, next_code=remaining[0].code if remaining else None,
        open_count=len(remaining), final_rule_labels=FINAL_RULE_LABELS, panel_rule_labels=PANEL_RULE_LABELS,
        is_chief=_user().has_role("chief_grader"), needs_adjudication=view.status == NEEDS_ADJUDICATION,
    )


def _next_open_url() -> str:
    rows = [r for r in ops.grader_queue(db.session, _user().id) if r.status == OPEN]
    return url_for("grading.task", code=rows[0].code) if rows else url_for("grading.queue")


@blueprint.post("/tasks/<code>/mark")
@role_required(*GRADERS)
def mark(code: str) -> WerkzeugResponse | tuple[str, int]:
    try:
        ops.submit_mark(db.session, code, _user(), _float_list("criterion"), request.form.get("total"),
                        request.form.get("comment", ""), current_user.actor)
    except ops.GradingError as exc:
        return _refuse(exc, url_for("grading.task", code=code))
    flash(f"任务 {code.upper()} 的评分已提交。")
    return redirect(_next_open_url())


@blueprint.post("/tasks/<code>/adjudicate")
@role_required("chief_grader")
def adjudicate(code: str) -> WerkzeugResponse | tuple[str, int]:
    try:
        ops.adjudicate(db.session, code, _user(), _float_list("criterion"), request.form.get("total"),
                       request.form.get("comment", ""), current_user.actor)
    except ops.GradingError as exc:
        return _refuse(exc, url_for("grading.task", code=code))
    task_row = db.session.scalar(select(GradingTask).where(GradingTask.code == code.upper()))
    flash(f"任务 {code.upper()} 已仲裁定分。")
    return redirect(url_for("grading.session_monitor", session_id=task_row.session_id) if task_row else
                    url_for("grading.monitor"))


@blueprint.post("/tasks/<code>/confirm")
@role_required(*GRADERS)
def confirm(code: str) -> WerkzeugResponse | tuple[str, int]:
    try:
        ops.confirm_panel(db.session, code, _user(), current_user.actor)
    except ops.GradingError as exc:
        return _refuse(exc, url_for("grading.task", code=code))
    flash(f"答辩 {code.upper()} 的成绩已确认。")
    return redirect(url_for("grading.queue"))


@blueprint.get("/tasks/<code>/documents/<int:n>")
@role_required(*GRADERS)
def document(code: str, n: int) -> Any:
    try:
        doc = ops.document_for(db.session, code, n, _user())
    except ops.GradingError as exc:
        abort(exc.status)
    from io import BytesIO

    # Served under a neutral name: the uploaded file name may carry the candidate's name.
    ext = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "text/plain": "txt"}.get(doc.mime, "bin")
    response = send_file(BytesIO(doc.data), mimetype=doc.mime, download_name=f"{code.upper()}-{n}.{ext}")
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------- the chief grader


@blueprint.get("/monitor")
@role_required("chief_grader")
def monitor() -> str:
    rows = db.session.execute(
        select(ExamSession, func.count(GradingTask.id))
        .join(GradingTask, GradingTask.session_id == ExamSession.id)
        .where(GradingTask.superseded.is_(False))
        .group_by(ExamSession.id).order_by(ExamSession.starts_at.desc())
    ).all()
    return render_template("grading/monitor_index.html", rows=rows)


@blueprint.get("/monitor/<int:session_id>")
@role_required("chief_grader")
def session_monitor(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    data = ops.monitor(db.session, exam_session)
    rules = ops.rules_of(exam_session)
    return render_template(
        "grading/monitor.html", exam_session=exam_session, m=data, graders=ops.session_graders(db.session),
        status_labels=STATUS_LABELS, kind_labels=ops.KIND_LABELS, rules=rules,
        final_rule_labels=FINAL_RULE_LABELS, panel_rule_labels=PANEL_RULE_LABELS,
    )


@blueprint.post("/monitor/<int:session_id>/assign")
@role_required("chief_grader")
def assign(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    back = url_for("grading.session_monitor", session_id=session_id)
    try:
        ids = [int(x) for x in request.form.getlist("grader")]
        n = ops.assign_tasks(db.session, exam_session, ids, current_user.actor)
    except ValueError:
        return _refuse(ops.GradingError("阅卷员编号无效"), back)
    except ops.GradingError as exc:
        return _refuse(exc, back)
    flash(f"已分配 {n} 个任务，每个任务两名阅卷员。" if n else "没有待分配的任务。")
    return redirect(back)


@blueprint.post("/monitor/<int:session_id>/reassign")
@role_required("chief_grader")
def reassign(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    back = url_for("grading.session_monitor", session_id=session_id)
    try:
        n = ops.reassign(db.session, exam_session, int(request.form.get("from_grader", "0")),
                         int(request.form.get("to_grader", "0")), current_user.actor,
                         request.form.get("reason", ""))
    except ValueError:
        return _refuse(ops.GradingError("请选择阅卷员"), back)
    except ops.GradingError as exc:
        return _refuse(exc, back)
    flash(f"已改派 {n} 个任务。")
    return redirect(back)


# ---------------------------------------------------------------- levels 2-1: theses, scans, panels


@blueprint.get("/sessions/<int:session_id>/setup")
@role_required("centre_staff")
def setup(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.session_id == session_id).order_by(Ticket.number)
    ).all()
    tasks: dict[int, dict[str, GradingTask]] = {}
    for t in db.session.scalars(select(GradingTask).where(
        GradingTask.session_id == session_id, GradingTask.superseded.is_(False), GradingTask.kind.in_((THESIS, DEFENCE))
    )):
        tasks.setdefault(t.candidate_id, {})[t.kind] = t
    scans = dict(db.session.execute(
        select(GradingDocument.candidate_id, func.count()).where(
            GradingDocument.session_id == session_id, GradingDocument.kind == "scan"
        ).group_by(GradingDocument.candidate_id)
    ).all())
    attempts = {a.candidate_id: a for a in db.session.scalars(select(Attempt).where(Attempt.session_id == session_id))}
    panels = db.session.scalars(select(Panel).where(Panel.session_id == session_id).order_by(Panel.id)).all()
    members = {
        p.id: [db.session.get(User, m.user_id) for m in db.session.scalars(
            select(PanelMember).where(PanelMember.panel_id == p.id).order_by(PanelMember.position))]
        for p in panels
    }
    return render_template(
        "grading/setup.html", exam_session=exam_session, tickets=tickets, tasks=tasks, scans=scans,
        attempts=attempts, panels=panels, members=members, graders=ops.session_graders(db.session),
        status_labels=STATUS_LABELS, has_defence=exam_session.level in (1, 2), attempt_labels=ATTEMPT_LABELS,
    )


def _upload(name: str) -> tuple[str, str, bytes] | None:
    f = request.files.get(name)
    if f is None or not f.filename:
        return None
    return f.filename, (f.mimetype or "application/octet-stream"), f.read()


@blueprint.post("/sessions/<int:session_id>/thesis")
@role_required("centre_staff")
def upload_thesis(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    back = url_for("grading.setup", session_id=session_id)
    file = _upload("file")
    try:
        if file is None:
            raise ops.GradingError("请选择论文文件（PDF 或纯文本）")
        thesis, _defence = ops.submit_thesis(db.session, exam_session, int(request.form.get("candidate_id", "0")),
                                             request.form.get("title", ""), file, current_user.actor)
    except ValueError:
        return _refuse(ops.GradingError("考生无效"), back)
    except ops.GradingError as exc:
        return _refuse(exc, back)
    flash(f"论文已登记，阅卷任务 {thesis.code} 已生成。")
    return redirect(back)


@blueprint.post("/sessions/<int:session_id>/scans")
@role_required("centre_staff")
def upload_scans(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    back = url_for("grading.setup", session_id=session_id)
    files = [(f.filename, f.mimetype or "application/octet-stream", f.read())
             for f in request.files.getlist("files") if f and f.filename]
    try:
        created = ops.upload_scans(db.session, exam_session, int(request.form.get("candidate_id", "0")), files,
                                   current_user.actor)
    except ValueError:
        return _refuse(ops.GradingError("考生无效"), back)
    except ops.GradingError as exc:
        return _refuse(exc, back)
    flash(f"已上传 {len(files)} 页扫描件，生成 {len(created)} 个阅卷任务。")
    return redirect(back)


@blueprint.post("/sessions/<int:session_id>/panels")
@role_required("centre_staff")
def create_panel(session_id: int) -> WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    back = url_for("grading.setup", session_id=session_id)
    try:
        members = [int(x) for x in request.form.getlist("member")]
        chair = int(request.form.get("chair", "0"))
        panel = ops.create_panel(db.session, exam_session, request.form.get("name", ""), members, chair,
                                 current_user.actor)
    except ValueError:
        return _refuse(ops.GradingError("请选择评委和组长"), back)
    except ops.GradingError as exc:
        return _refuse(exc, back)
    flash(f"答辩小组「{panel.name}」已建立。")
    return redirect(back)


@blueprint.post("/sessions/<int:session_id>/panels/<int:panel_id>/assign")
@role_required("centre_staff")
def assign_panel(session_id: int, panel_id: int) -> WerkzeugResponse | tuple[str, int]:
    _exam_session(session_id)
    back = url_for("grading.setup", session_id=session_id)
    panel = db.session.get(Panel, panel_id)
    if panel is None or panel.session_id != session_id:
        abort(404)
    try:
        n = ops.assign_panel(db.session, panel, request.form.getlist("task"), current_user.actor)
    except ops.GradingError as exc:
        return _refuse(exc, back)
    flash(f"已为答辩小组「{panel.name}」安排 {n} 名考生的答辩。")
    return redirect(back)

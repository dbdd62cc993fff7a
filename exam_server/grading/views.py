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
  GET  /grading/tasks/<code>/photo                a defence's candidate photo    grader, chief_grader
  GET  /grading/monitor                           sessions with grading          chief_grader
  GET  /grading/monitor/<session_id>              progress, agreement, queues    chief_grader
  POST /grading/monitor/<session_id>/assign       assign pending tasks           chief_grader
  POST /grading/monitor/<session_id>/reassign     move a grader's open tasks     chief_grader
  GET  /grading/sessions/<session_id>/setup       theses, scans, panels          centre_staff
  POST /grading/sessions/<session_id>/thesis      upload a thesis                centre_staff
  POST /grading/sessions/<session_id>/scans       upload answer-sheet scans      centre_staff
  POST /grading/sessions/<session_id>/panels      create a defence panel         centre_staff
  POST /grading/sessions/<session_id>/panels/<panel_id>/assign   defences → panel centre_staff

A refused action (GradingError) returns to its page (`BACK`) with the message flashed; one that is not the
person's to see (403) or does not exist (404), or a JSON client's, is answered as the app answers every refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.errors import refusal_response, wants_json
from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.grading import assignment, marking, monitoring, queries, tasks
from exam_server.grading.errors import GradingError
from exam_server.grading.models import NEEDS_ADJUDICATION, OPEN, Panel
from exam_server.grading.rules import FINAL_RULE_LABELS, PANEL_RULE_LABELS, rules_of
from exam_server.grading.states import STATUS_LABELS
from exam_server.sessions.models import ExamSession

blueprint = Blueprint("grading", __name__, url_prefix="/grading")

GRADERS = ("grader", "chief_grader")
ATTEMPT_LABELS = {
    "scheduled": "未入场", "checked_in": "已入场", "in_progress": "答题中", "paused": "已暂停",
    "submitted": "已交卷", "scored": "已评分", "finalised": "已归档",
}
# Served under a neutral name: the uploaded file name may carry the candidate's name.
DOCUMENT_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "text/plain": "txt"}

def _user() -> User:
    return current_user.user


def _exam_session(session_id: int) -> ExamSession:
    return db.session.get(ExamSession, session_id) or abort(404)


def _to_task(code: str, **_: Any) -> str:
    return url_for("grading.task", code=code)


def _to_monitor(session_id: int, **_: Any) -> str:
    return url_for("grading.session_monitor", session_id=session_id)


def _to_setup(session_id: int, **_: Any) -> str:
    return url_for("grading.setup", session_id=session_id)


# Where a refused action returns to, by endpoint, with the message flashed.
BACK: dict[str, Callable[..., str]] = {
    "grading.mark": _to_task,
    "grading.adjudicate": _to_task,
    "grading.confirm": _to_task,
    "grading.assign": _to_monitor,
    "grading.reassign": _to_monitor,
    "grading.upload_thesis": _to_setup,
    "grading.upload_scans": _to_setup,
    "grading.create_panel": _to_setup,
    "grading.assign_panel": _to_setup,
}


MARK_FORMS = ("grading.mark", "grading.adjudicate")
DRAFT_KEY = "grading_draft"


@blueprint.errorhandler(GradingError)
def _refused(exc: GradingError) -> ResponseReturnValue:
    back = BACK.get(request.endpoint or "")
    if back is None or exc.status in (403, 404) or wants_json():
        return refusal_response(exc.code, exc.message, exc.status)
    flash(exc.message)
    if request.endpoint in MARK_FORMS:
        # Refused marks come back filled in as typed, so the grader corrects one field, not all of them.
        session[DRAFT_KEY] = {"code": str((request.view_args or {}).get("code", "")).upper(),
                              "criterion": request.form.getlist("criterion")[:50],
                              "total": request.form.get("total", "")[:20],
                              "comment": request.form.get("comment", "")[:5000]}
    return redirect(back(**(request.view_args or {})))


def _int(name: str, refusal: str) -> int:
    try:
        return int(request.form.get(name, "0"))
    except ValueError:
        raise GradingError(refusal) from None


def _ints(name: str, refusal: str) -> list[int]:
    try:
        return [int(x) for x in request.form.getlist(name)]
    except ValueError:
        raise GradingError(refusal) from None


def _files(name: str) -> list[tuple[str, str, bytes]]:
    """The files uploaded in a form field, as (name, type, bytes)."""
    return [(f.filename, f.mimetype or "application/octet-stream", f.read())
            for f in request.files.getlist(name) if f and f.filename]


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
    rows = queries.grader_queue(db.session, _user().id)
    open_rows = [r for r in rows if r.status == OPEN]
    done_rows = [r for r in rows if r.status != OPEN]
    return render_template("grading/queue.html", open_rows=open_rows, done_rows=done_rows,
                           kind_labels=queries.KIND_LABELS)


@blueprint.get("/tasks/<code>")
@role_required(*GRADERS)
def task(code: str) -> str:
    view = queries.task_view(db.session, code, _user())
    remaining = [c for c in queries.open_codes(db.session, _user().id) if c != view.code]
    draft = session.pop(DRAFT_KEY, None)
    if not draft or draft.get("code") != view.code:
        draft = {}
    return render_template(
        "grading/task.html", view=view, status_labels=STATUS_LABELS, next_code=remaining[0] if remaining else None,
        open_count=len(remaining), final_rule_labels=FINAL_RULE_LABELS, panel_rule_labels=PANEL_RULE_LABELS,
        is_chief=_user().has_role("chief_grader"), needs_adjudication=view.status == NEEDS_ADJUDICATION,
        draft=draft,
    )


@blueprint.post("/tasks/<code>/mark")
@role_required(*GRADERS)
def mark(code: str) -> WerkzeugResponse:
    marking.submit_mark(db.session, code, _user(), _float_list("criterion"), request.form.get("total"),
                        request.form.get("comment", ""), current_user.actor)
    flash(f"任务 {code.upper()} 的评分已提交。")
    codes = queries.open_codes(db.session, _user().id)
    return redirect(_to_task(codes[0]) if codes else url_for("grading.queue"))


@blueprint.post("/tasks/<code>/adjudicate")
@role_required("chief_grader")
def adjudicate(code: str) -> WerkzeugResponse:
    marking.adjudicate(db.session, code, _user(), _float_list("criterion"), request.form.get("total"),
                       request.form.get("comment", ""), current_user.actor)
    flash(f"任务 {code.upper()} 已仲裁定分。")
    return redirect(_to_monitor(queries.task_by_code(db.session, code).session_id))


@blueprint.post("/tasks/<code>/confirm")
@role_required(*GRADERS)
def confirm(code: str) -> WerkzeugResponse:
    marking.confirm_panel(db.session, code, _user(), current_user.actor)
    flash(f"答辩 {code.upper()} 的成绩已确认。")
    return redirect(url_for("grading.queue"))


@blueprint.get("/tasks/<code>/documents/<int:n>")
@role_required(*GRADERS)
def document(code: str, n: int) -> WerkzeugResponse:
    doc = queries.document_for(db.session, code, n, _user())
    ext = DOCUMENT_EXTENSIONS.get(doc.mime, "bin")
    response = send_file(BytesIO(doc.data), mimetype=doc.mime, download_name=f"{code.upper()}-{n}.{ext}")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/tasks/<code>/photo")
@role_required(*GRADERS)
def task_photo(code: str) -> WerkzeugResponse:
    """The defending candidate's ID photo (a defence is not blind; a written paper's task has none)."""
    mime, data = queries.defence_photo(db.session, code, _user())
    response = send_file(BytesIO(data), mimetype=mime)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------- the chief grader


@blueprint.get("/monitor")
@role_required("chief_grader")
def monitor() -> str:
    return render_template("grading/monitor_index.html", rows=monitoring.sessions_with_tasks(db.session))


@blueprint.get("/monitor/<int:session_id>")
@role_required("chief_grader")
def session_monitor(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    return render_template(
        "grading/monitor.html", exam_session=exam_session, m=monitoring.monitor(db.session, exam_session),
        graders=queries.session_graders(db.session), status_labels=STATUS_LABELS, kind_labels=queries.KIND_LABELS,
        rules=rules_of(exam_session), final_rule_labels=FINAL_RULE_LABELS, panel_rule_labels=PANEL_RULE_LABELS,
        min_pairs=monitoring.MIN_PAIRS,
    )


@blueprint.post("/monitor/<int:session_id>/assign")
@role_required("chief_grader")
def assign(session_id: int) -> WerkzeugResponse:
    n = assignment.assign_tasks(db.session, _exam_session(session_id), _ints("grader", "阅卷员编号无效"),
                                current_user.actor)
    flash(f"已分配 {n} 个任务，每个任务两名阅卷员。" if n else "没有待分配的任务。")
    return redirect(_to_monitor(session_id))


@blueprint.post("/monitor/<int:session_id>/reassign")
@role_required("chief_grader")
def reassign(session_id: int) -> WerkzeugResponse:
    n = assignment.reassign(db.session, _exam_session(session_id), _int("from_grader", "请选择阅卷员"),
                            _int("to_grader", "请选择阅卷员"), current_user.actor, request.form.get("reason", ""))
    flash(f"已改派 {n} 个任务。")
    return redirect(_to_monitor(session_id))


# ---------------------------------------------------------------- levels 2-1: theses, scans, panels


@blueprint.get("/sessions/<int:session_id>/setup")
@role_required("centre_staff")
def setup(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    view = queries.setup_view(db.session, exam_session)
    return render_template(
        "grading/setup.html", exam_session=exam_session, tickets=view.tickets, tasks=view.tasks, scans=view.scans,
        attempts=view.attempts, panels=view.panels, members=view.members,
        graders=queries.session_graders(db.session), status_labels=STATUS_LABELS,
        has_defence=exam_session.level in (1, 2), attempt_labels=ATTEMPT_LABELS,
    )


@blueprint.post("/sessions/<int:session_id>/thesis")
@role_required("centre_staff")
def upload_thesis(session_id: int) -> WerkzeugResponse:
    exam_session = _exam_session(session_id)
    uploaded = _files("file")
    if not uploaded:
        raise GradingError("请选择论文文件（PDF 或纯文本）")
    thesis, _defence = tasks.submit_thesis(db.session, exam_session, _int("candidate_id", "考生无效"),
                                           request.form.get("title", ""), uploaded[0], current_user.actor)
    flash(f"论文已登记，阅卷任务 {thesis.code} 已生成。")
    return redirect(_to_setup(session_id))


@blueprint.post("/sessions/<int:session_id>/scans")
@role_required("centre_staff")
def upload_scans(session_id: int) -> WerkzeugResponse:
    pages = _files("files")
    created = tasks.upload_scans(db.session, _exam_session(session_id), _int("candidate_id", "考生无效"), pages,
                                 current_user.actor)
    flash(f"已上传 {len(pages)} 页扫描件，生成 {len(created)} 个阅卷任务。")
    return redirect(_to_setup(session_id))


@blueprint.post("/sessions/<int:session_id>/panels")
@role_required("centre_staff")
def create_panel(session_id: int) -> WerkzeugResponse:
    panel = assignment.create_panel(
        db.session, _exam_session(session_id), request.form.get("name", ""), _ints("member", "请选择评委和组长"),
        _int("chair", "请选择评委和组长"), current_user.actor,
    )
    flash(f"答辩小组「{panel.name}」已建立。")
    return redirect(_to_setup(session_id))


@blueprint.post("/sessions/<int:session_id>/panels/<int:panel_id>/assign")
@role_required("centre_staff")
def assign_panel(session_id: int, panel_id: int) -> WerkzeugResponse:
    _exam_session(session_id)
    panel = db.session.get(Panel, panel_id)
    if panel is None or panel.session_id != session_id:
        abort(404)
    n = assignment.assign_panel(db.session, panel, request.form.getlist("task"), current_user.actor)
    flash(f"已为答辩小组「{panel.name}」安排 {n} 名考生的答辩。")
    return redirect(_to_setup(session_id))

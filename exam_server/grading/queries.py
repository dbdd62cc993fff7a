"""What people's grading shows, read only: a task by its code and who may see it, a grader's queue, the
marking screen and the centre's set-up page of theses, scans and panels (the chief grader's monitor is in
monitor.py).

Blindness is enforced here, not in templates: a grader's view of a task carries its code, the item, the
response or documents and their own mark, never the candidate nor another person's mark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.applications.models import ApplicantPhoto, Application
from exam_server.core.models import User
from exam_server.delivery.models import Attempt, Response
from exam_server.grading.errors import GradingError
from exam_server.grading.models import (
    ADJUDICATION,
    AGREED,
    ASSIGNED,
    DEFENCE,
    DONE,
    FINAL,
    ITEM,
    MARKED,
    OPEN,
    PANEL,
    SCAN,
    THESIS,
    WITHDRAWN,
    GradingAssignment,
    GradingDocument,
    GradingTask,
    Mark,
    Panel,
    PanelMember,
)
from exam_server.grading.rules import rules_of
from exam_server.grading.states import STATUS_LABELS
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from item_bank.models import FormItem, ItemVersion
from scoring.grading import PANEL_MAX, PANEL_MIN, panel_score

GRADER_ROLES = ("grader", "chief_grader")
KIND_LABELS = {ITEM: "主观题", SCAN: "纸质答卷", THESIS: "论文", DEFENCE: "答辩"}


# ---------------------------------------------------------------- a task and the people on it


def task_by_code(session: Session, code: str, lock: bool = False) -> GradingTask:
    """The task with this code; `lock` re-reads it locked for this transaction (PostgreSQL row lock)."""
    query = select(GradingTask).where(GradingTask.code == str(code).strip().upper())
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    task = session.scalar(query)
    if task is None:
        raise GradingError(f"没有编号为 {code} 的阅卷任务", 404)
    return task


def assignments_of(session: Session, task_id: int) -> list[GradingAssignment]:
    # Queried, not taken from the relationship: the session keeps objects across commits.
    return list(session.scalars(
        select(GradingAssignment).where(GradingAssignment.task_id == task_id).order_by(GradingAssignment.id)
    ))


def marks_of(session: Session, task_id: int, kind: str | None = None) -> list[Mark]:
    query = select(Mark).where(Mark.task_id == task_id)
    if kind is not None:
        query = query.where(Mark.kind == kind)
    return list(session.scalars(query.order_by(Mark.id)))


def my_assignment(session: Session, task: GradingTask, user_id: int) -> GradingAssignment | None:
    for a in assignments_of(session, task.id):
        if a.grader_id == user_id and a.status != WITHDRAWN:
            return a
    return None


def is_chief(user: User) -> bool:
    return user.has_role("chief_grader")


def criteria_of(session: Session, task: GradingTask) -> list[dict[str, Any]]:
    """The rubric criteria a task is marked on: the item's rubric, or the level's thesis / defence rubric."""
    if task.rubric is not None:
        return [dict(c) for c in task.rubric.criteria]
    if task.item_version_id is not None:
        version = session.get(ItemVersion, task.item_version_id)
        return [dict(c) for c in (version.content.get("rubric") or [])] if version is not None else []
    return []


def scored_by_criterion(task: GradingTask, criteria: Sequence[dict[str, Any]]) -> bool:
    """True when every criterion has points adding up to the task's full marks (then each is marked apart)."""
    pts = [c.get("points") for c in criteria]
    return bool(criteria) and all(isinstance(p, int | float) and p > 0 for p in pts) and math.isclose(
        sum(pts), task.max_points, abs_tol=1e-9
    )


def mark_step_of(session: Session, task: GradingTask) -> float:
    """The step marks on this task are whole multiples of (the sitting's blueprint says)."""
    exam_session = session.get(ExamSession, task.session_id)
    return rules_of(exam_session).mark_step if exam_session is not None else 0.5


# ---------------------------------------------------------------- a grader's queue and marking screen


@dataclass
class QueueRow:
    code: str
    kind: str
    title: str
    max_points: float
    status: str
    my_mark: float | None
    role: str
    assigned_at: Any


def grader_queue(session: Session, user_id: int) -> list[QueueRow]:
    """A grader's tasks: open ones first (oldest first), then the ones they have marked."""
    rows = session.execute(
        select(GradingTask, GradingAssignment)
        .join(GradingAssignment, GradingAssignment.task_id == GradingTask.id)
        .where(GradingAssignment.grader_id == user_id, GradingAssignment.status != WITHDRAWN,
               GradingTask.superseded.is_(False))
        .order_by(GradingAssignment.status.desc(), GradingAssignment.id)
    ).all()
    mine = {
        m.task_id: m.total
        for m in session.scalars(select(Mark).where(Mark.grader_id == user_id, Mark.kind != ADJUDICATION))
    }
    out = [
        QueueRow(task.code, task.kind, task.title, task.max_points, a.status, mine.get(task.id), a.role, a.created_at)
        for task, a in rows
    ]
    out.sort(key=lambda r: (r.status != OPEN, r.assigned_at))
    return out


def open_codes(session: Session, user_id: int) -> list[str]:
    """The codes of a grader's tasks still to mark, oldest first."""
    return [r.code for r in grader_queue(session, user_id) if r.status == OPEN]


@dataclass
class TaskView:
    """Everything a marker's screen shows about a task, and nothing that identifies the candidate."""

    code: str
    kind: str
    kind_label: str
    title: str
    max_points: float
    status: str
    stem: str = ""
    response: str | None = None
    model_answer: str = ""
    criteria: list[dict[str, Any]] = field(default_factory=list)
    by_criterion: bool = False
    documents: list[dict[str, Any]] = field(default_factory=list)
    my_mark: Mark | None = None
    can_mark: bool = False
    mark_step: float = 0.5
    tolerance: float = 0.0
    final_rule: str = "mean"
    # Only for the chief grader or the panel chair, never for a marker.
    other_marks: list[dict[str, Any]] = field(default_factory=list)
    final_mark: float | None = None
    panel_name: str = ""
    is_chair: bool = False
    # For the chair once every member has scored: the panel score the rule gives.
    panel_preview: float | None = None
    # The status as this person may read it (see `status_label_for`).
    status_label: str = ""
    # A defence is not blind: the panel sees who stands in front of it.
    candidate_name: str = ""
    ticket_number: str = ""
    has_photo: bool = False
    # For the chief grader or chair: the members' spread (max − min) when it exceeds the tolerance.
    panel_spread: float | None = None
    spread_tolerance: float | None = None


def _response_text(session: Session, task: GradingTask) -> str | None:
    if task.kind != ITEM or task.attempt_id is None:
        return None
    value = session.scalar(
        select(Response.value).where(Response.attempt_id == task.attempt_id,
                                     Response.item_version_id == task.item_version_id)
    )
    return value if isinstance(value, str) else ""


def _document_kind(task: GradingTask) -> str | None:
    return "scan" if task.kind == SCAN else "thesis" if task.kind in (THESIS, DEFENCE) else None


def _documents(session: Session, task: GradingTask) -> list[dict[str, Any]]:
    kind = _document_kind(task)
    if kind is None:
        return []
    rows = session.execute(
        select(GradingDocument.id, GradingDocument.page, GradingDocument.mime, GradingDocument.title)
        .where(GradingDocument.session_id == task.session_id, GradingDocument.candidate_id == task.candidate_id,
               GradingDocument.kind == kind)
        .order_by(GradingDocument.page)
    ).all()
    # Numbered by position, never by database id, so a URL reveals nothing about the candidate.
    docs = [{"n": i, "mime": mime, "title": title, "text": None}
            for i, (_id, _page, mime, title) in enumerate(rows, start=1)]
    for doc, (doc_id, _page, mime, _title) in zip(docs, rows, strict=True):
        if mime == "text/plain":
            data = session.scalar(select(GradingDocument.data).where(GradingDocument.id == doc_id)) or b""
            doc["text"] = data.decode("utf-8", errors="replace")
    return docs


def _authorise_view(session: Session, task: GradingTask, user: User) -> GradingAssignment | None:
    mine = my_assignment(session, task, user.id)
    if mine is None and not is_chief(user):
        raise GradingError("这不是分配给您的阅卷任务", 403)
    return mine


def document_for(session: Session, code: str, n: int, user: User) -> GradingDocument:
    """The n-th document of a task (1-based) for a person allowed to see the task."""
    task = task_by_code(session, code)
    _authorise_view(session, task, user)
    kind = _document_kind(task)
    if kind is None:
        raise GradingError("该任务没有附件", 404)
    rows = list(session.scalars(
        select(GradingDocument).where(GradingDocument.session_id == task.session_id,
                                      GradingDocument.candidate_id == task.candidate_id,
                                      GradingDocument.kind == kind).order_by(GradingDocument.page)
    ))
    if not 1 <= n <= len(rows):
        raise GradingError("没有这一页", 404)
    return rows[n - 1]


def _defence_photo_query(task: GradingTask) -> Any:
    return (select(ApplicantPhoto.mime, ApplicantPhoto.data)
            .join(Application, Application.photo_id == ApplicantPhoto.id)
            .join(Ticket, Ticket.application_id == Application.id)
            .where(Ticket.candidate_id == task.candidate_id, Ticket.session_id == task.session_id)
            .order_by(Ticket.id.desc()).limit(1))


def defence_photo(session: Session, code: str, user: User) -> tuple[str, bytes]:
    """The ID photo of the candidate defending in task `code`, for a person allowed to see the task. Only a
    defence's: the written papers stay blind, so their tasks have no photo to give (404)."""
    task = task_by_code(session, code)
    _authorise_view(session, task, user)
    row = session.execute(_defence_photo_query(task)).first() if task.kind == DEFENCE else None
    if row is None:
        raise GradingError("没有答辩人的证件照", 404)
    return row[0], row[1]


def panel_progress(session: Session, task: GradingTask) -> tuple[int, int]:
    """(members who have scored, members) of a defence panel task."""
    members = [a for a in assignments_of(session, task.id) if a.role == "panel" and a.status != WITHDRAWN]
    return len(marks_of(session, task.id, PANEL)), len(members)


def status_label_for(session: Session, task: GradingTask, user: User, mine: GradingAssignment | None) -> str:
    """The task's status as `user` may read it. A marker sees only their own state (待评 / 已提交): the
    task's status would tell them that the other marker finished (已一评) or that the two disagree (待仲裁).
    The chief grader (not marking it) and a panel chair see the full status, a panel's as 已评 n/m."""
    is_chair = task.panel_id is not None and mine is not None and (
        session.get(Panel, task.panel_id).chair_id == user.id)  # type: ignore[union-attr]
    if mine is not None and not is_chair:
        return "已提交" if mine.status == DONE else "待评"
    if task.is_panel and task.status in (ASSIGNED, MARKED):
        done, members = panel_progress(session, task)
        return f"已评 {done}/{members}"
    return STATUS_LABELS.get(task.status, task.status)


def spread_tolerance(session: Session, task: GradingTask) -> float:
    """The largest spread (max − min) of a panel's marks the grading rules allow (the double-marking
    tolerance: a defence task itself carries none)."""
    exam_session = session.get(ExamSession, task.session_id)
    return rules_of(exam_session).tolerance_for(task.max_points) if exam_session is not None else 0.0


def panel_spread(totals: Sequence[float], tolerance: float) -> float | None:
    """The spread of a panel's marks when it exceeds the tolerance, else None."""
    if len(totals) < 2:
        return None
    spread = max(totals) - min(totals)
    return spread if spread > tolerance + 1e-9 else None


def task_view(session: Session, code: str, user: User) -> TaskView:
    """The marking screen's data for `user`: blind for markers; the chief grader also sees all marks, and a
    panel chair sees the members' scores once every member has scored."""
    task = task_by_code(session, code)
    mine = _authorise_view(session, task, user)
    criteria = criteria_of(session, task)
    stem, model_answer = "", ""
    if task.item_version_id is not None:
        version = session.get(ItemVersion, task.item_version_id)
        if version is not None:
            stem = version.stem
            model_answer = str(version.content.get("model_answer") or "")
    panel = session.get(Panel, task.panel_id) if task.panel_id is not None else None
    my_mark = None
    if mine is not None:
        my_mark = session.scalar(select(Mark).where(Mark.task_id == task.id, Mark.grader_id == user.id,
                                                    Mark.kind != ADJUDICATION))
    view = TaskView(
        code=task.code, kind=task.kind, kind_label=KIND_LABELS.get(task.kind, task.kind), title=task.title,
        max_points=task.max_points, status=task.status, stem=stem, response=_response_text(session, task),
        model_answer=model_answer, criteria=criteria, by_criterion=scored_by_criterion(task, criteria),
        documents=_documents(session, task), my_mark=my_mark,
        can_mark=mine is not None and mine.status == OPEN and task.status in (ASSIGNED, MARKED) and not task.superseded,
        mark_step=mark_step_of(session, task), tolerance=task.tolerance, final_rule=task.final_rule,
        panel_name=panel.name if panel is not None else "",
        is_chair=panel is not None and panel.chair_id == user.id,
        status_label=status_label_for(session, task, user, mine),
    )
    if task.kind == DEFENCE:
        row = session.execute(
            select(Candidate.name, Ticket.number).outerjoin(
                Ticket, (Ticket.candidate_id == Candidate.id) & (Ticket.session_id == task.session_id))
            .where(Candidate.id == task.candidate_id)
        ).first()
        if row is not None:
            view.candidate_name, view.ticket_number = row[0], row[1] or ""
        view.has_photo = session.execute(
            _defence_photo_query(task).with_only_columns(ApplicantPhoto.id)).first() is not None
    chair_may_see = view.is_chair and task.status in (AGREED, FINAL)
    if (is_chief(user) and mine is None) or chair_may_see:
        marks = marks_of(session, task.id)
        names = display_names(session, [m.grader_id for m in marks])
        view.other_marks = [
            {"grader": names.get(m.grader_id, str(m.grader_id)), "kind": m.kind, "total": m.total,
             "criteria": m.criteria, "comment": m.comment, "at": m.submitted_at}
            for m in marks
        ]
        view.final_mark = task.final_mark
        panel_marks = [m.total for m in marks if m.kind == PANEL]
        if task.kind == DEFENCE:
            view.spread_tolerance = spread_tolerance(session, task)
            view.panel_spread = panel_spread(panel_marks, view.spread_tolerance)
        if task.kind == DEFENCE and PANEL_MIN <= len(panel_marks) <= PANEL_MAX:
            view.panel_preview = panel_score(panel_marks, task.final_rule)
    return view


def display_names(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Each user's name as screens show it, by id."""
    return {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(list(user_ids))))}


# ---------------------------------------------------------------- who marks


def session_graders(session: Session) -> list[User]:
    """Active staff who can mark (graders and chief graders), by name."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.display_name))
    return [u for u in users if u.has_role(*GRADER_ROLES)]


def defence_tasks(session: Session, exam_session: ExamSession) -> list[GradingTask]:
    return list(session.scalars(
        select(GradingTask).where(GradingTask.session_id == exam_session.id, GradingTask.kind == DEFENCE,
                                  GradingTask.superseded.is_(False)).order_by(GradingTask.id)
    ))


def form_item_count(session: Session, form_id: int) -> int:
    return session.scalar(select(func.count()).select_from(FormItem).where(FormItem.form_id == form_id)) or 0


# ---------------------------------------------------------------- the centre's set-up of levels 2-1


@dataclass
class SetupView:
    """A sitting's candidates with their thesis and defence tasks, scans and attempts, and its panels."""

    tickets: list[Ticket]
    tasks: dict[int, dict[str, GradingTask]]
    scans: dict[int, int]
    attempts: dict[int, Attempt]
    panels: list[Panel]
    members: dict[int, list[User]]


def setup_view(session: Session, exam_session: ExamSession) -> SetupView:
    """What the centre's set-up page of a sitting shows."""
    session_id = exam_session.id
    tickets = list(session.scalars(select(Ticket).where(Ticket.session_id == session_id).order_by(Ticket.number)))
    tasks: dict[int, dict[str, GradingTask]] = {}
    for t in session.scalars(select(GradingTask).where(
        GradingTask.session_id == session_id, GradingTask.superseded.is_(False), GradingTask.kind.in_((THESIS, DEFENCE))
    )):
        tasks.setdefault(t.candidate_id, {})[t.kind] = t
    scans = dict(session.execute(
        select(GradingDocument.candidate_id, func.count()).where(
            GradingDocument.session_id == session_id, GradingDocument.kind == "scan"
        ).group_by(GradingDocument.candidate_id)
    ).all())
    attempts = {a.candidate_id: a for a in session.scalars(select(Attempt).where(Attempt.session_id == session_id))}
    panels = list(session.scalars(select(Panel).where(Panel.session_id == session_id).order_by(Panel.id)))
    members = {
        p.id: [session.get(User, m.user_id) for m in session.scalars(
            select(PanelMember).where(PanelMember.panel_id == p.id).order_by(PanelMember.position))]
        for p in panels
    }
    return SetupView(tickets, tasks, scans, attempts, panels, members)


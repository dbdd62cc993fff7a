"""Who marks what: double-marked tasks to two graders balancing their open work, moving a grader's open
tasks to another, defence panels of 3-5 examiners and the defences put before them. Each commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.grading.errors import GradingError
from exam_server.grading.models import (
    ASSIGNED,
    DEFENCE,
    MARKER,
    OPEN,
    PANEL_MEMBER,
    PENDING,
    WITHDRAWN,
    GradingAssignment,
    GradingTask,
    Mark,
    Panel,
    PanelMember,
)
from exam_server.grading.queries import GRADER_ROLES, assignments_of, task_by_code
from exam_server.grading.states import TASK_LIFECYCLE, set_status
from exam_server.sessions.models import ExamSession
from item_bank.audit import audit
from item_bank.db import transaction, utcnow
from scoring.grading import PANEL_MAX, PANEL_MIN


def _graders(session: Session, ids: Iterable[int]) -> list[User]:
    wanted = sorted(set(int(i) for i in ids))
    users = list(session.scalars(select(User).where(User.id.in_(wanted))))
    found = {u.id for u in users}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise GradingError(f"没有编号为 {missing} 的用户")
    for u in users:
        if not u.active or not u.has_role(*GRADER_ROLES):
            raise GradingError(f"{u.display_name} 不是在岗的阅卷员")
    return sorted(users, key=lambda u: u.id)


def _open_load(session: Session, grader_ids: Sequence[int]) -> Counter[int]:
    rows = session.execute(
        select(GradingAssignment.grader_id, func.count()).where(
            GradingAssignment.grader_id.in_(list(grader_ids)), GradingAssignment.status == OPEN
        ).group_by(GradingAssignment.grader_id)
    ).all()
    return Counter({gid: n for gid, n in rows})


def _earlier_graders(session: Session, task: GradingTask) -> set[int]:
    """Everyone who marked an earlier round of this task (a re-grade goes to fresh eyes)."""
    out: set[int] = set()
    seen = 0
    prev_id = task.supersedes_id
    while prev_id is not None and seen < 20:
        out |= set(session.scalars(select(Mark.grader_id).where(Mark.task_id == prev_id)))
        prev_id = session.scalar(select(GradingTask.supersedes_id).where(GradingTask.id == prev_id))
        seen += 1
    return out


def assign_tasks(
    session: Session, exam_session: ExamSession, grader_ids: Sequence[int], actor: str, limit: int | None = None
) -> int:
    """Give every pending double-marked task of the session to two different graders, balancing open work.

    A re-graded task avoids whoever marked its earlier round. Returns how many tasks were assigned. Commits.
    """
    with transaction(session):
        graders = _graders(session, grader_ids)
        if len(graders) < 2:
            raise GradingError("双评至少需要选择两名阅卷员")
        tasks = list(session.scalars(
            select(GradingTask).where(
                GradingTask.session_id == exam_session.id, GradingTask.status == PENDING,
                GradingTask.kind != DEFENCE, GradingTask.superseded.is_(False),
            ).order_by(GradingTask.id).limit(limit)
        ))
        load = _open_load(session, [g.id for g in graders])
        assigned = 0
        for task in tasks:
            avoid = _earlier_graders(session, task) if task.supersedes_id else set()
            pool = [g for g in graders if g.id not in avoid]
            if len(pool) < 2:
                continue
            pick = sorted(pool, key=lambda g: (load[g.id], g.id))[:2]
            for g in pick:
                session.add(GradingAssignment(task_id=task.id, grader_id=g.id, role=MARKER, assigned_by=actor))
                load[g.id] += 1
            set_status(session, task, "assign", ASSIGNED, actor, graders=[g.id for g in pick])
            assigned += 1
    return assigned


def reassign(
    session: Session, exam_session: ExamSession, from_grader_id: int, to_grader_id: int, actor: str,
    reason: str = "",
) -> int:
    """Move a grader's unmarked tasks of the session to another grader (never to a task's other marker).

    Returns how many moved; the old assignments stay, withdrawn. Commits.
    """
    with transaction(session):
        if from_grader_id == to_grader_id:
            raise GradingError("改派的两名阅卷员不能相同")
        (target,) = _graders(session, [to_grader_id])
        rows = list(session.scalars(
            select(GradingAssignment).join(GradingTask, GradingTask.id == GradingAssignment.task_id).where(
                GradingTask.session_id == exam_session.id, GradingAssignment.grader_id == from_grader_id,
                GradingAssignment.status == OPEN, GradingAssignment.role == MARKER,
            ).order_by(GradingAssignment.id)
        ))
        moved = 0
        now = utcnow()
        for a in rows:
            task = session.get(GradingTask, a.task_id)
            others = {x.grader_id for x in assignments_of(session, task.id) if x.status != WITHDRAWN and x.id != a.id}
            if target.id in others or target.id in _earlier_graders(session, task):
                continue
            a.status = WITHDRAWN
            a.done_at = now
            session.add(GradingAssignment(task_id=task.id, grader_id=target.id, role=MARKER, assigned_by=actor))
            # The task keeps its status: the table still says whether a task in it may change hands.
            TASK_LIFECYCLE.check("reassign", task.status, task.status)
            audit(session, actor, "grading.reassign", "grading_task", task.id,
                  before={"grader": from_grader_id}, after={"grader": target.id}, reason=reason)
            moved += 1
    return moved


def create_panel(
    session: Session, exam_session: ExamSession, name: str, member_ids: Sequence[int], chair_id: int, actor: str
) -> Panel:
    """A defence panel of 3-5 examiners for the session; the chair is one of them. Commits."""
    with transaction(session):
        if exam_session.level not in (1, 2):
            raise GradingError("只有 2 级和 1 级有论文答辩")
        name = (name or "").strip() or "答辩小组"
        members = _graders(session, member_ids)
        if not PANEL_MIN <= len(members) <= PANEL_MAX:
            raise GradingError(f"答辩小组应有 {PANEL_MIN}-{PANEL_MAX} 名评委，现选了 {len(members)} 名")
        if chair_id not in {m.id for m in members}:
            raise GradingError("组长必须是本小组的评委")
        panel = Panel(session_id=exam_session.id, name=name[:120], chair_id=chair_id)
        session.add(panel)
        session.flush()
        order = [chair_id] + [m.id for m in members if m.id != chair_id]
        for pos, uid in enumerate(order):
            session.add(PanelMember(panel_id=panel.id, user_id=uid, position=pos))
        audit(session, actor, "grading.create_panel", "grading_panel", panel.id,
              after={"name": panel.name, "members": order, "chair": chair_id})
    return panel


def assign_panel(session: Session, panel: Panel, task_codes: Sequence[str], actor: str) -> int:
    """Put pending defences before a panel: every member gets the task to score. Commits."""
    with transaction(session):
        done = 0
        for code in task_codes:
            task = task_by_code(session, code, lock=True)
            if task.kind != DEFENCE:
                raise GradingError(f"任务 {task.code} 不是答辩任务")
            if task.session_id != panel.session_id:
                raise GradingError(f"任务 {task.code} 不属于答辩小组「{panel.name}」的考试场次")
            if task.status != PENDING:
                raise GradingError(f"答辩 {task.code} 已安排过答辩小组")
            task.panel_id = panel.id
            members = session.scalars(select(PanelMember).where(PanelMember.panel_id == panel.id)
                                      .order_by(PanelMember.position))
            for member in members:
                session.add(GradingAssignment(task_id=task.id, grader_id=member.user_id, role=PANEL_MEMBER,
                                              assigned_by=actor))
            set_status(session, task, "assign_panel", ASSIGNED, actor, panel=panel.id)
            done += 1
    return done

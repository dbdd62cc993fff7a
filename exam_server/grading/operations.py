"""The verbs of people's grading: create tasks, assign and reassign graders, mark, adjudicate,
score a defence as a panel, confirm; and the read side graders and the chief grader see.

Blindness is enforced here, not in templates: a grader's view of a task carries its code, the
item, the response or documents and their own mark, never the candidate nor another person's mark.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.delivery.models import Attempt
from exam_server.grading.models import (
    ADJUDICATION,
    AGREED,
    ASSIGNED,
    DEFENCE,
    DONE,
    FINAL,
    INDEPENDENT,
    ITEM,
    MARKED,
    MARKER,
    NEEDS_ADJUDICATION,
    OPEN,
    PANEL,
    PANEL_MEMBER,
    PENDING,
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
from exam_server.grading.rubrics import current_rubric
from exam_server.grading.rules import GradingRules
from exam_server.grading.states import check_transition
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.models import FormItem, ItemVersion
from item_bank.types import item_type
from scoring.grading import (
    PANEL_MAX,
    PANEL_MIN,
    final_mark,
    grader_agreement,
    needs_adjudication,
    panel_score,
)

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported on first use (grader agreement), not here: the grading web domain imports this
# module, and a restarted exam server must listen again within seconds.

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed
GRADER_ROLES = ("grader", "chief_grader")
KIND_LABELS = {ITEM: "主观题", SCAN: "纸质答卷", THESIS: "论文", DEFENCE: "答辩"}
SCAN_MIMES = {"application/pdf", "image/png", "image/jpeg"}
THESIS_MIMES = {"application/pdf", "text/plain"}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class GradingError(Exception):
    """A grading action refused, with a Chinese message the grader can act on; `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# ---------------------------------------------------------------- helpers


def _new_codes(session: Session, n: int) -> list[str]:
    """`n` fresh anonymous task codes such as "K7QM-3XRA", none in use."""
    codes: set[str] = set()
    while len(codes) < n:
        want = n - len(codes)
        batch = {
            "".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) + "-"
            + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))
            for _ in range(want)
        }
        taken = set(session.scalars(select(GradingTask.code).where(GradingTask.code.in_(list(batch)))))
        codes |= batch - taken
    return sorted(codes)[:n]


def rules_of(exam_session: ExamSession) -> GradingRules:
    return GradingRules.from_spec(exam_session.blueprint.spec)


def _task(session: Session, code: str, lock: bool = False) -> GradingTask:
    """The task with this code; `lock` re-reads it locked for this transaction (PostgreSQL row lock)."""
    query = select(GradingTask).where(GradingTask.code == str(code).strip().upper())
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    task = session.scalar(query)
    if task is None:
        raise GradingError(f"没有编号为 {code} 的阅卷任务", 404)
    return task


def _assignments(session: Session, task_id: int) -> list[GradingAssignment]:
    # Queried, not taken from the relationship: the session keeps objects across commits.
    return list(session.scalars(
        select(GradingAssignment).where(GradingAssignment.task_id == task_id).order_by(GradingAssignment.id)
    ))


def _marks(session: Session, task_id: int, kind: str | None = None) -> list[Mark]:
    query = select(Mark).where(Mark.task_id == task_id)
    if kind is not None:
        query = query.where(Mark.kind == kind)
    return list(session.scalars(query.order_by(Mark.id)))


def _is_chief(user: User) -> bool:
    return user.has_role("chief_grader")


def _set_status(session: Session, task: GradingTask, action: str, target: str, actor: str, **after: Any) -> None:
    check_transition(action, task.status, target)
    before = task.status
    task.status = target
    audit(session, actor, f"grading.{action}", "grading_task", task.id,
          before={"status": before}, after={"status": target, **after})


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


def _on_step(value: float, step: float) -> bool:
    return math.isclose(value / step, round(value / step), abs_tol=1e-9)


def check_mark(
    session: Session, task: GradingTask, criteria_marks: Sequence[Any] | None, total: Any, step: float
) -> tuple[float, list[float]]:
    """The (total, per-criterion marks) a form submitted, validated against the rubric; GradingError if not."""
    criteria = criteria_of(session, task)
    if scored_by_criterion(task, criteria):
        if criteria_marks is None or len(criteria_marks) != len(criteria):
            raise GradingError(f"请为全部 {len(criteria)} 条评分要点打分")
        marks: list[float] = []
        for c, raw in zip(criteria, criteria_marks, strict=True):
            name = c.get("criterion", "")
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise GradingError(f"「{name}」的分数应为数字") from None
            if not math.isfinite(value) or value < 0 or value > float(c["points"]) + 1e-9:
                raise GradingError(f"「{name}」的分数应在 0 到 {c['points']:g} 之间")
            if not _on_step(value, step):
                raise GradingError(f"「{name}」的分数应为 {step:g} 的整数倍")
            marks.append(value)
        return math.fsum(marks), marks
    try:
        value = float(total)
    except (TypeError, ValueError):
        raise GradingError("请填写总分") from None
    if not math.isfinite(value) or value < 0 or value > task.max_points + 1e-9:
        raise GradingError(f"总分应在 0 到 {task.max_points:g} 之间")
    if not _on_step(value, step):
        raise GradingError(f"总分应为 {step:g} 的整数倍")
    return value, []


def _step_of(session: Session, task: GradingTask) -> float:
    exam_session = session.get(ExamSession, task.session_id)
    return rules_of(exam_session).mark_step if exam_session is not None else 0.5


# ---------------------------------------------------------------- creating tasks


def ensure_item_tasks(
    session: Session,
    exam_session: ExamSession,
    attempt_id: int,
    candidate_id: int,
    human_items: Iterable[Any],
    actor: str,
    kind: str = ITEM,
) -> list[GradingTask]:
    """Create the grading task of each human-graded item of an attempt that has none yet (flushes).

    `human_items` are `exam_server.results.plan.HumanItem`s; the tolerance and final-mark rule come
    from the session's blueprint and are copied onto the task.
    """
    items = list(human_items)
    if not items:
        return []
    have = set(session.scalars(
        select(GradingTask.item_version_id).where(
            GradingTask.attempt_id == attempt_id, GradingTask.superseded.is_(False)
        )
    ))
    todo = [h for h in items if h.version_id not in have]
    if not todo:
        return []
    rules = rules_of(exam_session)
    codes = _new_codes(session, len(todo))
    created = []
    for code, h in zip(codes, todo, strict=True):
        task = GradingTask(
            code=code, session_id=exam_session.id, candidate_id=candidate_id, attempt_id=attempt_id,
            level=exam_session.level, part=exam_session.part, kind=kind, item_version_id=h.version_id,
            title=f"{item_type(h.type).label}（{h.points:g} 分）", max_points=h.points,
            tolerance=rules.tolerance_for(h.points), final_rule=rules.final_rule, status=PENDING,
        )
        session.add(task)
        created.append(task)
    session.flush()
    for task in created:
        audit(session, actor, "grading.create", "grading_task", task.id,
              after={"code": task.code, "kind": kind, "attempt_id": attempt_id, "item_version_id": task.item_version_id})
    return created


def _candidate_attempt(session: Session, exam_session: ExamSession, candidate_id: int) -> Attempt:
    attempt = session.scalar(
        select(Attempt).where(Attempt.session_id == exam_session.id, Attempt.candidate_id == candidate_id)
    )
    if attempt is None:
        raise GradingError("该考生在本场次没有作答记录（请先发准考证并生成作答记录）")
    return attempt


def _check_file(name: str, mime: str, data: bytes, allowed: set[str]) -> None:
    if mime not in allowed:
        raise GradingError(f"文件 {name} 的类型 {mime} 不能上传（允许 {', '.join(sorted(allowed))}）")
    if not data:
        raise GradingError(f"文件 {name} 是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise GradingError(f"文件 {name} 超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")


def upload_scans(
    session: Session,
    exam_session: ExamSession,
    candidate_id: int,
    files: Sequence[tuple[str, str, bytes]],
    actor: str,
) -> list[GradingTask]:
    """Store a paper sitter's scanned answer sheets (name, mime, bytes per page) and create a grading task
    per item of their paper, each showing the scans. Only papers graded wholly by people can be sat on paper.
    Commits."""
    if not files:
        raise GradingError("请选择扫描件")
    for name, mime, data in files:
        _check_file(name, mime, data, SCAN_MIMES)
    attempt = _candidate_attempt(session, exam_session, candidate_id)
    from exam_server.results.operations import corrections_of
    from exam_server.results.plan import build_plan

    plan = build_plan(session, attempt.form_id, corrections_of(session, exam_session.id))
    objective = [t for t in plan.types if t != "set" and item_type(t).auto_scored]
    if objective:
        raise GradingError(f"该试卷含 {len(objective)} 道客观题，须上机作答；只有全部为主观题的笔试可以上传纸质答卷扫描件")
    existing = session.scalar(
        select(func.count()).select_from(GradingDocument).where(
            GradingDocument.session_id == exam_session.id, GradingDocument.candidate_id == candidate_id,
            GradingDocument.kind == "scan",
        )
    ) or 0
    started = session.scalar(
        select(GradingTask.id).where(GradingTask.attempt_id == attempt.id, GradingTask.status != PENDING,
                                     GradingTask.superseded.is_(False)).limit(1)
    )
    if started is not None:
        raise GradingError("该考生的答卷已开始评阅，不能再补传扫描件")
    for page, (name, mime, data) in enumerate(files, start=existing + 1):
        session.add(GradingDocument(
            session_id=exam_session.id, candidate_id=candidate_id, kind="scan", page=page,
            title=f"第 {page} 页", original_name=name[:300], mime=mime, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), data=data, uploaded_by=actor,
        ))
    session.flush()
    audit(session, actor, "grading.upload_scans", "exam_session", exam_session.id,
          after={"candidate_id": candidate_id, "pages": len(files)})
    created = ensure_item_tasks(session, exam_session, attempt.id, candidate_id, plan.human, actor, kind=SCAN)
    session.commit()
    return created


def submit_thesis(
    session: Session,
    exam_session: ExamSession,
    candidate_id: int,
    title: str,
    file: tuple[str, str, bytes],
    actor: str,
) -> tuple[GradingTask, GradingTask]:
    """Store a level 2-1 candidate's thesis and create its two tasks: the thesis (double-marked) and the
    defence (scored by a panel). A thesis may be replaced only before anyone is assigned to it. Commits."""
    title = (title or "").strip()
    if exam_session.level not in (1, 2):
        raise GradingError("只有 2 级（保安师）和 1 级（高级保安师）有论文答辩")
    if not title:
        raise GradingError("请填写论文题目")
    name, mime, data = file
    _check_file(name, mime, data, THESIS_MIMES)
    is_candidate = session.scalar(
        select(Ticket.id).where(Ticket.session_id == exam_session.id, Ticket.candidate_id == candidate_id)
    )
    if is_candidate is None:
        raise GradingError("该考生没有本场次的准考证")
    attempt = session.scalar(
        select(Attempt.id).where(Attempt.session_id == exam_session.id, Attempt.candidate_id == candidate_id)
    )
    current = {
        t.kind: t for t in session.scalars(
            select(GradingTask).where(
                GradingTask.session_id == exam_session.id, GradingTask.candidate_id == candidate_id,
                GradingTask.kind.in_((THESIS, DEFENCE)), GradingTask.superseded.is_(False),
            )
        )
    }
    if THESIS in current and current[THESIS].status != PENDING:
        raise GradingError("该考生的论文已开始评阅，不能更换")
    old_doc = session.scalar(
        select(GradingDocument).where(GradingDocument.session_id == exam_session.id,
                                      GradingDocument.candidate_id == candidate_id, GradingDocument.kind == "thesis")
    )
    if old_doc is not None:
        session.delete(old_doc)
    session.add(GradingDocument(
        session_id=exam_session.id, candidate_id=candidate_id, kind="thesis", page=1, title=title[:300],
        original_name=name[:300], mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        data=data, uploaded_by=actor,
    ))
    rules = rules_of(exam_session)
    thesis_rubric = current_rubric(session, exam_session.level, "thesis")
    defence_rubric = current_rubric(session, exam_session.level, "defence")
    thesis = current.get(THESIS)
    defence = current.get(DEFENCE)
    codes = _new_codes(session, 2)
    if thesis is None:
        thesis = GradingTask(
            code=codes[0], session_id=exam_session.id, candidate_id=candidate_id, attempt_id=attempt,
            level=exam_session.level, part="defence", kind=THESIS, rubric_id=thesis_rubric.id,
            max_points=thesis_rubric.max_points, tolerance=rules.tolerance_for(thesis_rubric.max_points),
            final_rule=rules.final_rule, status=PENDING,
        )
        session.add(thesis)
    thesis.title = f"论文：{title}"[:300]
    if defence is None:
        defence = GradingTask(
            code=codes[1], session_id=exam_session.id, candidate_id=candidate_id, attempt_id=attempt,
            level=exam_session.level, part="defence", kind=DEFENCE, rubric_id=defence_rubric.id,
            max_points=defence_rubric.max_points, tolerance=0.0, final_rule=rules.panel_rule, status=PENDING,
        )
        session.add(defence)
    defence.title = f"答辩：{title}"[:300]
    session.flush()
    audit(session, actor, "grading.submit_thesis", "grading_task", thesis.id,
          after={"candidate_id": candidate_id, "title": title, "defence_task": defence.code})
    session.commit()
    return thesis, defence


# ---------------------------------------------------------------- assigning graders


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
        _set_status(session, task, "assign", ASSIGNED, actor, graders=[g.id for g in pick])
        assigned += 1
    session.commit()
    return assigned


def reassign(
    session: Session, exam_session: ExamSession, from_grader_id: int, to_grader_id: int, actor: str,
    reason: str = "",
) -> int:
    """Move a grader's unmarked tasks of the session to another grader (never to a task's other marker).

    Returns how many moved; the old assignments stay, withdrawn. Commits.
    """
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
        others = {x.grader_id for x in _assignments(session, task.id) if x.status != WITHDRAWN and x.id != a.id}
        if target.id in others or target.id in _earlier_graders(session, task):
            continue
        a.status = WITHDRAWN
        a.done_at = now
        session.add(GradingAssignment(task_id=task.id, grader_id=target.id, role=MARKER, assigned_by=actor))
        check_transition("reassign", task.status, task.status)
        audit(session, actor, "grading.reassign", "grading_task", task.id,
              before={"grader": from_grader_id}, after={"grader": target.id}, reason=reason)
        moved += 1
    session.commit()
    return moved


def create_panel(
    session: Session, exam_session: ExamSession, name: str, member_ids: Sequence[int], chair_id: int, actor: str
) -> Panel:
    """A defence panel of 3-5 examiners for the session; the chair is one of them. Commits."""
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
    session.commit()
    return panel


def assign_panel(session: Session, panel: Panel, task_codes: Sequence[str], actor: str) -> int:
    """Put pending defences before a panel: every member gets the task to score. Commits."""
    done = 0
    for code in task_codes:
        task = _task(session, code, lock=True)
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
        _set_status(session, task, "assign_panel", ASSIGNED, actor, panel=panel.id)
        done += 1
    session.commit()
    return done


# ---------------------------------------------------------------- marking


def _my_assignment(session: Session, task: GradingTask, user_id: int) -> GradingAssignment | None:
    for a in _assignments(session, task.id):
        if a.grader_id == user_id and a.status != WITHDRAWN:
            return a
    return None


def submit_mark(
    session: Session,
    code: str,
    grader: User,
    criteria_marks: Sequence[Any] | None,
    total: Any,
    comment: str,
    actor: str,
) -> Mark:
    """A grader's (or panel member's) independent mark on a task assigned to them. Commits.

    The second mark of a double-marked task decides it: within the tolerance and under the "mean"
    rule the task is final at the mean of the two; otherwise it waits for the chief grader. The
    last member of a panel to score leaves the defence waiting for the chair's confirmation.
    """
    task = _task(session, code, lock=True)
    if task.superseded:
        raise GradingError("该任务已被复核重评任务取代", 409)
    mine = _my_assignment(session, task, grader.id)
    if mine is None:
        raise GradingError("这不是分配给您的阅卷任务", 403)
    if mine.status == DONE:
        raise GradingError("您已提交过该任务的评分，不能修改", 409)
    if task.status not in (ASSIGNED, MARKED):
        raise GradingError("该任务当前不接受评分", 409)
    value, per_criterion = check_mark(session, task, criteria_marks, total, _step_of(session, task))
    kind = PANEL if task.is_panel else INDEPENDENT
    mark = Mark(task_id=task.id, grader_id=grader.id, kind=kind, total=value, criteria=per_criterion,
                comment=(comment or "").strip()[:5000])
    session.add(mark)
    mine.status = DONE
    mine.done_at = utcnow()
    session.flush()
    audit(session, actor, "grading.mark", "grading_task", task.id, after={"mark_id": mark.id, "kind": kind})
    marks = _marks(session, task.id, kind)
    if task.is_panel:
        members = [a for a in _assignments(session, task.id) if a.role == PANEL_MEMBER and a.status != WITHDRAWN]
        if len(marks) >= len(members):
            _set_status(session, task, "mark", AGREED, actor, panel_marks=len(marks))
        else:
            _set_status(session, task, "mark", MARKED, actor, panel_marks=len(marks))
    elif len(marks) < 2:
        _set_status(session, task, "mark", MARKED, actor)
    else:
        first, second = marks[0].total, marks[1].total
        if task.final_rule == "adjudicated" or needs_adjudication(first, second, task.tolerance):
            _set_status(session, task, "mark", NEEDS_ADJUDICATION, actor,
                        difference=abs(first - second), tolerance=task.tolerance)
        else:
            _set_status(session, task, "mark", AGREED, actor, difference=abs(first - second))
            _finalise(session, task, final_mark([first, second], "mean"), "finalise", actor)
    session.commit()
    return mark


def _finalise(session: Session, task: GradingTask, value: float, action: str, actor: str) -> None:
    task.final_mark = float(value)
    task.finalised_at = utcnow()
    _set_status(session, task, action, FINAL, actor, final_mark=task.final_mark)
    from exam_server.results.operations import complete_from_grading

    complete_from_grading(session, task, actor)


def adjudicate(
    session: Session,
    code: str,
    chief: User,
    criteria_marks: Sequence[Any] | None,
    total: Any,
    comment: str,
    actor: str,
) -> Mark:
    """The chief grader's mark on a task whose two marks disagree; it is the task's final mark. Commits."""
    if not _is_chief(chief):
        raise GradingError("只有阅卷组长可以仲裁", 403)
    task = _task(session, code, lock=True)
    if task.status != NEEDS_ADJUDICATION:
        raise GradingError("该任务不需要仲裁", 409)
    independent = [m.total for m in _marks(session, task.id, INDEPENDENT)]
    if any(m.grader_id == chief.id for m in _marks(session, task.id, INDEPENDENT)):
        raise GradingError("您是该任务的评阅人之一，须由另一位组长仲裁", 403)
    value, per_criterion = check_mark(session, task, criteria_marks, total, _step_of(session, task))
    if not (comment or "").strip():
        raise GradingError("仲裁须写明理由")
    mark = Mark(task_id=task.id, grader_id=chief.id, kind=ADJUDICATION, total=value, criteria=per_criterion,
                comment=comment.strip()[:5000])
    session.add(mark)
    session.flush()
    _finalise(session, task, final_mark(independent, "adjudicated", adjudicated=value), "adjudicate", actor)
    session.commit()
    return mark


def confirm_panel(session: Session, code: str, chair: User, actor: str) -> GradingTask:
    """The panel chair confirms a defence once every member has scored; the panel rule gives the final mark.
    Commits."""
    task = _task(session, code, lock=True)
    panel = session.get(Panel, task.panel_id) if task.panel_id is not None else None
    if task.kind != DEFENCE or panel is None:
        raise GradingError("这不是已安排答辩小组的答辩任务", 400)
    if panel.chair_id != chair.id:
        raise GradingError("只有答辩小组组长可以确认", 403)
    if task.status != AGREED:
        raise GradingError("还有评委没有评分，暂不能确认", 409)
    scores = [m.total for m in _marks(session, task.id, PANEL)]
    _finalise(session, task, panel_score(scores, task.final_rule), "confirm", actor)
    session.commit()
    return task


def regrade_for_review(session: Session, result: Any, actor: str) -> list[GradingTask]:
    """For a review (复核): a new round of every human-graded task behind `result` (the defence panel's live
    score stays); the earlier tasks stay, superseded. Flushes; returns the new tasks."""
    query = select(GradingTask).where(GradingTask.superseded.is_(False), GradingTask.status == FINAL)
    if result.attempt_id is not None and result.part != "defence":
        query = query.where(GradingTask.attempt_id == result.attempt_id, GradingTask.kind.in_((ITEM, SCAN)))
    else:
        query = query.where(GradingTask.session_id == result.session_id,
                            GradingTask.candidate_id == result.candidate_id, GradingTask.kind == THESIS)
    old = list(session.scalars(query.order_by(GradingTask.id)))
    codes = _new_codes(session, len(old))
    created = []
    for code, task in zip(codes, old, strict=True):
        task.superseded = True
        new = GradingTask(
            code=code, session_id=task.session_id, candidate_id=task.candidate_id, attempt_id=task.attempt_id,
            level=task.level, part=task.part, kind=task.kind, item_version_id=task.item_version_id,
            rubric_id=task.rubric_id, title=task.title, max_points=task.max_points, tolerance=task.tolerance,
            final_rule=task.final_rule, status=PENDING, round=task.round + 1, supersedes_id=task.id,
        )
        session.add(new)
        created.append(new)
    session.flush()
    for new in created:
        audit(session, actor, "grading.regrade", "grading_task", new.id,
              after={"code": new.code, "supersedes": new.supersedes_id, "round": new.round})
    return created


# ---------------------------------------------------------------- what people see


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


def _response_text(session: Session, task: GradingTask) -> str | None:
    if task.kind != ITEM or task.attempt_id is None:
        return None
    from exam_server.delivery.models import Response

    value = session.scalar(
        select(Response.value).where(Response.attempt_id == task.attempt_id,
                                     Response.item_version_id == task.item_version_id)
    )
    return value if isinstance(value, str) else ""


def _documents(session: Session, task: GradingTask) -> list[dict[str, Any]]:
    kind = "scan" if task.kind == SCAN else "thesis" if task.kind in (THESIS, DEFENCE) else None
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


def document_for(session: Session, code: str, n: int, user: User) -> GradingDocument:
    """The n-th document of a task (1-based) for a person allowed to see the task."""
    task = _task(session, code)
    _authorise_view(session, task, user)
    kind = "scan" if task.kind == SCAN else "thesis" if task.kind in (THESIS, DEFENCE) else None
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


def _authorise_view(session: Session, task: GradingTask, user: User) -> GradingAssignment | None:
    mine = _my_assignment(session, task, user.id)
    if mine is None and not _is_chief(user):
        raise GradingError("这不是分配给您的阅卷任务", 403)
    return mine


def task_view(session: Session, code: str, user: User) -> TaskView:
    """The marking screen's data for `user`: blind for markers; the chief grader also sees all marks, and a
    panel chair sees the members' scores once every member has scored."""
    task = _task(session, code)
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
        mark_step=_step_of(session, task), tolerance=task.tolerance, final_rule=task.final_rule,
        panel_name=panel.name if panel is not None else "",
        is_chair=panel is not None and panel.chair_id == user.id,
    )
    chair_may_see = view.is_chair and task.status in (AGREED, FINAL)
    if (_is_chief(user) and mine is None) or chair_may_see:
        marks = _marks(session, task.id)
        names = {u.id: u.display_name for u in session.scalars(
            select(User).where(User.id.in_([m.grader_id for m in marks])))}
        view.other_marks = [
            {"grader": names.get(m.grader_id, str(m.grader_id)), "kind": m.kind, "total": m.total,
             "criteria": m.criteria, "comment": m.comment, "at": m.submitted_at}
            for m in marks
        ]
        view.final_mark = task.final_mark
        panel_marks = [m.total for m in marks if m.kind == PANEL]
        if task.kind == DEFENCE and PANEL_MIN <= len(panel_marks) <= PANEL_MAX:
            view.panel_preview = panel_score(panel_marks, task.final_rule)
    return view


# ---------------------------------------------------------------- the chief grader's monitor


@dataclass
class GraderLine:
    grader_id: int
    name: str
    open: int = 0
    done: int = 0
    mean_pct: float | None = None
    n_pairs: int = 0
    exact: float | None = None
    adjacent: float | None = None
    pearson_r: float | None = None
    mean_diff: float | None = None


@dataclass
class Monitor:
    session_id: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    graders: list[GraderLine]
    adjudication: list[GradingTask]
    awaiting_chair: list[GradingTask]
    pending: int
    total: int
    tolerance_pct: float


def agreement(session: Session, session_id: int) -> tuple[pd.DataFrame, float]:
    """Per grader agreement with the other marker (n, exact, adjacent, Pearson r, mean difference) on the
    100-point scale of each task, with the adjacency tolerance used (the tasks' median, in %)."""
    import pandas as pd

    rows = session.execute(
        select(Mark.task_id, Mark.grader_id, Mark.total, GradingTask.max_points, GradingTask.tolerance)
        .join(GradingTask, GradingTask.id == Mark.task_id)
        .where(GradingTask.session_id == session_id, Mark.kind == INDEPENDENT)
    ).all()
    if not rows:
        return pd.DataFrame(columns=["n", "exact", "adjacent", "pearson_r", "mean_diff"]), 10.0
    frame = pd.DataFrame(rows, columns=["task", "grader", "total", "max_points", "tolerance"])
    frame["mark"] = frame["total"] / frame["max_points"] * 100.0
    tolerance = float((frame["tolerance"] / frame["max_points"] * 100.0).median())
    return grader_agreement(frame[["task", "grader", "mark"]], tolerance=tolerance), tolerance


def monitor(session: Session, exam_session: ExamSession) -> Monitor:
    """Progress, each grader's load and agreement, and what waits for the chief grader or a panel chair."""
    import pandas as pd

    tasks = list(session.scalars(
        select(GradingTask).where(GradingTask.session_id == exam_session.id, GradingTask.superseded.is_(False))
        .order_by(GradingTask.id)
    ))
    by_status = Counter(t.status for t in tasks)
    by_kind = Counter(t.kind for t in tasks)
    loads: dict[int, GraderLine] = {}
    counts = session.execute(
        select(GradingAssignment.grader_id, GradingAssignment.status, func.count())
        .join(GradingTask, GradingTask.id == GradingAssignment.task_id)
        .where(GradingTask.session_id == exam_session.id)
        .group_by(GradingAssignment.grader_id, GradingAssignment.status)
    ).all()
    ids = sorted({gid for gid, _, _ in counts})
    names = {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(ids)))}
    for gid, status, n in counts:
        line = loads.setdefault(gid, GraderLine(gid, names.get(gid, str(gid))))
        if status == OPEN:
            line.open += n
        elif status == DONE:
            line.done += n
    means: dict[int, list[float]] = defaultdict(list)
    for gid, total, max_points in session.execute(
        select(Mark.grader_id, Mark.total, GradingTask.max_points).join(GradingTask, GradingTask.id == Mark.task_id)
        .where(GradingTask.session_id == exam_session.id, Mark.kind != ADJUDICATION)
    ):
        means[gid].append(total / max_points * 100.0)
    for gid, values in means.items():
        if gid in loads:
            loads[gid].mean_pct = sum(values) / len(values)
    table, tolerance = agreement(session, exam_session.id)
    for gid, stats in table.iterrows():
        line = loads.get(int(gid))
        if line is None:
            continue
        line.n_pairs = int(stats["n"])
        line.exact = float(stats["exact"])
        line.adjacent = float(stats["adjacent"])
        line.pearson_r = None if pd.isna(stats["pearson_r"]) else float(stats["pearson_r"])
        line.mean_diff = float(stats["mean_diff"])
    return Monitor(
        session_id=exam_session.id,
        by_status=dict(by_status),
        by_kind=dict(by_kind),
        graders=sorted(loads.values(), key=lambda g: g.grader_id),
        adjudication=[t for t in tasks if t.status == NEEDS_ADJUDICATION],
        awaiting_chair=[t for t in tasks if t.status == AGREED and t.kind == DEFENCE],
        pending=by_status.get(PENDING, 0),
        total=len(tasks),
        tolerance_pct=tolerance,
    )


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

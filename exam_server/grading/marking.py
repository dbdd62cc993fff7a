"""Marking: a grader's (or panel member's) independent mark, the chief grader's adjudication, the panel
chair's confirmation. Each commits; a task that becomes final sends `grading_task_finalised`, on which the
results pipeline completes the result it was waiting for (exam_server/pipeline.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.signals import grading_task_finalised
from exam_server.grading.errors import GradingError
from exam_server.grading.models import (
    ADJUDICATION,
    AGREED,
    ASSIGNED,
    DEFENCE,
    DONE,
    FINAL,
    INDEPENDENT,
    MARKED,
    NEEDS_ADJUDICATION,
    PANEL,
    PANEL_MEMBER,
    WITHDRAWN,
    GradingTask,
    Mark,
    Panel,
)
from exam_server.grading.queries import (
    assignments_of,
    criteria_of,
    is_chief,
    mark_step_of,
    marks_of,
    my_assignment,
    scored_by_criterion,
    task_by_code,
)
from exam_server.grading.states import set_status
from item_bank.audit import audit
from item_bank.db import transaction, utcnow
from scoring.grading import final_mark, needs_adjudication, panel_score


def _on_step(value: float, step: float) -> bool:
    return math.isclose(value / step, round(value / step), abs_tol=1e-9)


def _checked_value(raw: Any, upper: float, step: float, name: str, missing: str) -> float:
    """One submitted number within 0..upper on the step; GradingError naming `name` if not."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise GradingError(missing) from None
    if not math.isfinite(value) or value < 0 or value > upper + 1e-9:
        raise GradingError(f"{name}应在 0 到 {upper:g} 之间")
    if not _on_step(value, step):
        raise GradingError(f"{name}应为 {step:g} 的整数倍")
    return value


def check_mark(
    session: Session, task: GradingTask, criteria_marks: Sequence[Any] | None, total: Any, step: float
) -> tuple[float, list[float]]:
    """The (total, per-criterion marks) a form submitted, validated against the rubric; GradingError if not."""
    criteria = criteria_of(session, task)
    if scored_by_criterion(task, criteria):
        if criteria_marks is None or len(criteria_marks) != len(criteria):
            raise GradingError(f"请为全部 {len(criteria)} 条评分要点打分")
        marks = [
            _checked_value(raw, float(c["points"]), step, f"「{c.get('criterion', '')}」的分数",
                           f"「{c.get('criterion', '')}」的分数应为数字")
            for c, raw in zip(criteria, criteria_marks, strict=True)
        ]
        return math.fsum(marks), marks
    return _checked_value(total, task.max_points, step, "总分", "请填写总分"), []


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
    with transaction(session):
        task = task_by_code(session, code, lock=True)
        if task.superseded:
            raise GradingError("该任务已被复核重评任务取代", 409)
        mine = my_assignment(session, task, grader.id)
        if mine is None:
            raise GradingError("这不是分配给您的阅卷任务", 403)
        if mine.status == DONE:
            raise GradingError("您已提交过该任务的评分，不能修改", 409)
        if task.status not in (ASSIGNED, MARKED):
            raise GradingError("该任务当前不接受评分", 409)
        value, per_criterion = check_mark(session, task, criteria_marks, total, mark_step_of(session, task))
        kind = PANEL if task.is_panel else INDEPENDENT
        mark = Mark(task_id=task.id, grader_id=grader.id, kind=kind, total=value, criteria=per_criterion,
                    comment=(comment or "").strip()[:5000])
        session.add(mark)
        mine.status = DONE
        mine.done_at = utcnow()
        session.flush()
        audit(session, actor, "grading.mark", "grading_task", task.id, after={"mark_id": mark.id, "kind": kind})
        marks = marks_of(session, task.id, kind)
        if task.is_panel:
            members = [a for a in assignments_of(session, task.id)
                       if a.role == PANEL_MEMBER and a.status != WITHDRAWN]
            target = AGREED if len(marks) >= len(members) else MARKED
            set_status(session, task, "mark", target, actor, panel_marks=len(marks))
        elif len(marks) < 2:
            set_status(session, task, "mark", MARKED, actor)
        else:
            first, second = marks[0].total, marks[1].total
            if task.final_rule == "adjudicated" or needs_adjudication(first, second, task.tolerance):
                set_status(session, task, "mark", NEEDS_ADJUDICATION, actor,
                           difference=abs(first - second), tolerance=task.tolerance)
            else:
                set_status(session, task, "mark", AGREED, actor, difference=abs(first - second))
                _finalise(session, task, final_mark([first, second], "mean"), "finalise", actor)
    return mark


def _finalise(session: Session, task: GradingTask, value: float, action: str, actor: str) -> None:
    task.final_mark = float(value)
    task.finalised_at = utcnow()
    set_status(session, task, action, FINAL, actor, final_mark=task.final_mark)
    grading_task_finalised.send(session, task=task, actor=actor)


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
    if not is_chief(chief):
        raise GradingError("只有阅卷组长可以仲裁", 403)
    with transaction(session):
        task = task_by_code(session, code, lock=True)
        if task.status != NEEDS_ADJUDICATION:
            raise GradingError("该任务不需要仲裁", 409)
        independent = marks_of(session, task.id, INDEPENDENT)
        if any(m.grader_id == chief.id for m in independent):
            raise GradingError("您是该任务的评阅人之一，须由另一位组长仲裁", 403)
        value, per_criterion = check_mark(session, task, criteria_marks, total, mark_step_of(session, task))
        if not (comment or "").strip():
            raise GradingError("仲裁须写明理由")
        mark = Mark(task_id=task.id, grader_id=chief.id, kind=ADJUDICATION, total=value, criteria=per_criterion,
                    comment=comment.strip()[:5000])
        session.add(mark)
        session.flush()
        _finalise(session, task, final_mark([m.total for m in independent], "adjudicated", adjudicated=value),
                  "adjudicate", actor)
    return mark


def confirm_panel(session: Session, code: str, chair: User, actor: str) -> GradingTask:
    """The panel chair confirms a defence once every member has scored; the panel rule gives the final mark.
    Commits."""
    with transaction(session):
        task = task_by_code(session, code, lock=True)
        panel = session.get(Panel, task.panel_id) if task.panel_id is not None else None
        if task.kind != DEFENCE or panel is None:
            raise GradingError("这不是已安排答辩小组的答辩任务", 400)
        if panel.chair_id != chair.id:
            raise GradingError("只有答辩小组组长可以确认", 403)
        if task.status != AGREED:
            raise GradingError("还有评委没有评分，暂不能确认", 409)
        scores = [m.total for m in marks_of(session, task.id, PANEL)]
        _finalise(session, task, panel_score(scores, task.final_rule), "confirm", actor)
    return task

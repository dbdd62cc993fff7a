"""The grading-task lifecycle (DESIGN.md §4): the allowed transitions in one table, and `set_status`, the one
function that moves a task (checks the table, sets the status, writes the audit row).

pending → assigned → marked → (second mark) → agreed | needs_adjudication → final.
A defence task walks the same road: assigned to a panel, marked while members score, agreed when
every member has scored, final when the chair confirms.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from exam_server.grading.models import (
    AGREED,
    ASSIGNED,
    FINAL,
    MARKED,
    NEEDS_ADJUDICATION,
    PENDING,
    GradingTask,
)
from item_bank.kernel import StateMachine, TransitionRefused

# (from, to) -> the actions that may take it.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (PENDING, ASSIGNED): frozenset({"assign", "assign_panel"}),
    (ASSIGNED, ASSIGNED): frozenset({"assign", "reassign"}),
    (ASSIGNED, MARKED): frozenset({"mark"}),
    (MARKED, MARKED): frozenset({"mark", "reassign"}),
    (MARKED, AGREED): frozenset({"mark"}),
    (MARKED, NEEDS_ADJUDICATION): frozenset({"mark"}),
    (AGREED, FINAL): frozenset({"finalise", "confirm"}),
    (NEEDS_ADJUDICATION, FINAL): frozenset({"adjudicate"}),
}

STATUS_LABELS = {
    PENDING: "待分配",
    ASSIGNED: "评阅中",
    MARKED: "已一评",
    AGREED: "待确认",
    NEEDS_ADJUDICATION: "待仲裁",
    FINAL: "已定分",
}

ACTION_LABELS = {
    "assign": "分配",
    "assign_panel": "指定答辩小组",
    "reassign": "改派",
    "mark": "评分",
    "finalise": "定分",
    "confirm": "组长确认",
    "adjudicate": "仲裁",
}


class TaskTransitionRefused(TransitionRefused):
    """The task is not in a state where this action is allowed."""

    default_code = "grading_transition_refused"


def _refusal(machine: StateMachine, action: str, current: str, target: str) -> str:
    return f"阅卷任务状态为 {machine.label(current)}，不能执行「{machine.action_labels.get(action, action)}」"


TASK_LIFECYCLE = StateMachine(
    "阅卷任务",
    TRANSITIONS,
    entity="grading_task",
    state_labels=STATUS_LABELS,
    action_labels=ACTION_LABELS,
    error=TaskTransitionRefused,
    refusal=_refusal,
)


def set_status(session: Session, task: GradingTask, action: str, target: str, actor: str, **after: Any) -> None:
    """Move `task` to `target` by `action` if the table allows it, with a `grading.<action>` audit row."""
    TASK_LIFECYCLE.apply(session, task, action, target, actor, audit_action=f"grading.{action}", **after)

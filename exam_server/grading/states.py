"""The grading-task lifecycle (DESIGN.md §4): the allowed transitions in one table.

pending → assigned → marked → (second mark) → agreed | needs_adjudication → final.
A defence task walks the same road: assigned to a panel, marked while members score, agreed when
every member has scored, final when the chair confirms.
"""

from __future__ import annotations

from exam_server.grading.models import AGREED, ASSIGNED, FINAL, MARKED, NEEDS_ADJUDICATION, PENDING

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


class TaskTransitionRefused(Exception):
    """The task is not in a state where this action is allowed."""

    def __init__(self, action: str, current: str, target: str) -> None:
        super().__init__(f"阅卷任务状态为 {STATUS_LABELS.get(current, current)}，不能执行「{ACTION_LABELS.get(action, action)}」")
        self.action, self.current, self.target = action, current, target


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


def check_transition(action: str, current: str, target: str) -> None:
    """Raise TaskTransitionRefused unless `action` may move a task from `current` to `target`."""
    if action not in TRANSITIONS.get((current, target), frozenset()):
        raise TaskTransitionRefused(action, current, target)

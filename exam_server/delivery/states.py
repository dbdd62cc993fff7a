"""The attempt lifecycle (DESIGN.md §4): the allowed transitions in one table."""

from __future__ import annotations

from exam_server.delivery.models import (
    CHECKED_IN,
    FINALISED,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    SCORED,
    SUBMITTED,
)

# (from, to) -> the actions that may take it.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (SCHEDULED, CHECKED_IN): frozenset({"check_in"}),
    (CHECKED_IN, SCHEDULED): frozenset({"undo_check_in"}),
    (CHECKED_IN, IN_PROGRESS): frozenset({"start"}),
    (CHECKED_IN, PAUSED): frozenset({"pause"}),
    (PAUSED, CHECKED_IN): frozenset({"resume"}),
    (IN_PROGRESS, PAUSED): frozenset({"pause"}),
    (PAUSED, IN_PROGRESS): frozenset({"resume"}),
    (IN_PROGRESS, SUBMITTED): frozenset({"submit"}),
    (PAUSED, SUBMITTED): frozenset({"submit"}),
    (SUBMITTED, SCORED): frozenset({"score"}),
    (SCORED, SCORED): frozenset({"score"}),
    (SCORED, FINALISED): frozenset({"finalise"}),
    (SUBMITTED, IN_PROGRESS): frozenset({"reopen"}),
    (SCORED, IN_PROGRESS): frozenset({"reopen"}),
}


class TransitionRefused(Exception):
    def __init__(self, action: str, current: str, target: str) -> None:
        super().__init__(f"作答记录状态为 {current}，不能执行 {action}（→ {target}）")
        self.action, self.current, self.target = action, current, target


def check_transition(action: str, current: str, target: str) -> None:
    """Raise TransitionRefused unless `action` may move an attempt from `current` to `target`."""
    if action not in TRANSITIONS.get((current, target), frozenset()):
        raise TransitionRefused(action, current, target)

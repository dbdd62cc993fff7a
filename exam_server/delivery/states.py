"""The attempt lifecycle (DESIGN.md §4): the allowed transitions in one table, and the one function that moves an
attempt, checking the table and appending the step to the attempt's log (an attempt's audit trail)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from exam_server.delivery.models import (
    CHECKED_IN,
    FINALISED,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    SCORED,
    SUBMITTED,
    Attempt,
    AttemptEvent,
)
from exam_server.delivery.store import log_event
from item_bank.kernel import StateMachine
from item_bank.kernel import TransitionRefused as _Refused

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


# Each state in the words staff screens show it (the proctor's seat map has words of its own: idle, disconnected).
# Submitted and scored are two steps: scoring follows the submit as a job (results/submitted.py), so an
# attempt reads 已交卷 until it has run, then 已评分 (or stays 已交卷 while people grade its items).
STATUS_LABELS = {
    SCHEDULED: "未入场",
    CHECKED_IN: "已入场",
    IN_PROGRESS: "答题中",
    PAUSED: "已暂停",
    SUBMITTED: "已交卷",
    SCORED: "已评分",
    FINALISED: "已归档",
}


class TransitionRefused(_Refused):
    """An attempt asked to move where its lifecycle does not go from its state."""

    default_code = "refused"


def _refusal(_machine: StateMachine, action: str, current: str, target: str) -> str:
    return f"作答记录状态为 {current}，不能执行 {action}（→ {target}）"


LIFECYCLE = StateMachine("作答记录", TRANSITIONS, entity="attempt", error=TransitionRefused, refusal=_refusal)


def check_transition(action: str, current: str, target: str) -> None:
    """Raise TransitionRefused unless `action` may move an attempt from `current` to `target`."""
    LIFECYCLE.check(action, current, target)


def move(
    session: Session,
    attempt: Attempt,
    action: str,
    target: str,
    actor: str,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    at: dt.datetime | None = None,
) -> AttemptEvent:
    """Check `action` from the attempt's status to `target`, set it, and log the step as `kind`.

    The caller holds the attempt's row lock and commits. (Starting, a whole room at once, checks with
    `check_transition` and writes by prepared statements instead.)
    """
    check_transition(action, attempt.status, target)
    attempt.status = target
    return log_event(session, attempt, kind, actor, payload, at=at)

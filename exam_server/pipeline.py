"""The results pipeline, wired in one place: submitted → scored → grading tasks → result completed.

Delivery, results and grading each announce their step on a named signal (exam_server/core/signals.py)
and never import the step that follows; this module, at the composition root, connects every receiver.
Each signal is sent inside the sending step's transaction with the SQLAlchemy session as sender, so what
a receiver writes commits or rolls back with that step; `submissions_committed` alone is sent after the commit,
so that the submit transaction holds the submission and nothing else.

    delivery ── submissions_committed ──▶ results: ask for the job that scores what is submitted (after the
                                          submit's commit; the job scores in batches, results/submitted.py)
    results  ── attempt_scored ─────────▶ grading: a task for each item people grade without a final mark
    grading  ── grading_task_finalised ─▶ results: complete the result the final mark was waiting for
    results  ── regrade_requested ──────▶ grading: a new round of the tasks behind a reviewed result (复核)

(Layers: grading sits below results, so results may read grading's tables and rules; neither calls the
other's steps.) `create_app` imports this module; the receivers are connected once per process, at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.auth import sessions_revoked
from exam_server.core.signals import (
    attempt_scored,
    grading_task_finalised,
    regrade_requested,
    sitting_scheduled,
    submissions_committed,
)
from exam_server.delivery.models import Attempt
from exam_server.delivery.operations import prepare_attempts
from exam_server.delivery.revocation import close_revoked_sockets
from exam_server.grading.models import GradingTask
from exam_server.grading.tasks import GradedItem, ensure_item_tasks, regrade_for_review
from exam_server.results.completion import complete_from_grading
from exam_server.results.models import Result
from exam_server.results.submitted import request_scoring
from exam_server.sessions.models import ExamSession


def ask_for_scoring(sender: Session, *, recover: bool = False, **_: Any) -> None:
    request_scoring(sender, always=recover)


def create_grading_tasks(
    sender: Session, *, attempt: Attempt, human_items: Sequence[GradedItem] = (), actor: str, **_: Any
) -> list[GradingTask]:
    if not human_items:
        return []
    return ensure_item_tasks(sender, attempt.session, attempt.id, attempt.candidate_id, human_items, actor)


def complete_result(sender: Session, *, task: GradingTask, actor: str, **_: Any) -> Result | None:
    return complete_from_grading(sender, task, actor)


def regrade(sender: Session, *, result: Result, actor: str, **_: Any) -> list[GradingTask]:
    return regrade_for_review(sender, result, actor)


def prepare_scheduled(sender: Session, *, exam_session: ExamSession, actor: str, **_: Any) -> int:
    return prepare_attempts(sender, exam_session, actor)


def connect_pipeline() -> None:
    """Connect every receiver of the pipeline's signals (idempotent: blinker keeps one connection each)."""
    submissions_committed.connect(ask_for_scoring)
    attempt_scored.connect(create_grading_tasks)
    grading_task_finalised.connect(complete_result)
    regrade_requested.connect(regrade)
    # Sittings schedule candidates; delivery fixes their attempts before the sitting opens.
    sitting_scheduled.connect(prepare_scheduled)
    # Not a results step, but wired here for the same reason: core announces, delivery closes the exam sockets.
    sessions_revoked.connect(close_revoked_sockets)


connect_pipeline()

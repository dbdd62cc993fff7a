"""The results pipeline, wired in one place: submitted → scored → grading tasks → result completed.

Delivery, results and grading each announce their step on a named signal (exam_server/core/signals.py)
and never import the step that follows; this module, at the composition root, connects every receiver.
Each signal is sent inside the sending step's transaction with the SQLAlchemy session as sender, so what
a receiver writes commits or rolls back with that step.

    delivery  ── attempt_submitted ──▶ results.score_attempt
    results   ── attempt_scored ─────▶ grading: a task per item people grade that has no final mark yet
    grading   ── grading_task_finalised ▶ results: complete the result the final mark was waiting for
    results   ── regrade_requested ──▶ grading: a new round of the tasks behind a reviewed result (复核)

`create_app` imports this module; the receivers are connected once per process, at import.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.signals import attempt_submitted
from exam_server.results.operations import score_attempt
from item_bank.kernel import system_actor

# Scoring at submit is the server's own step, whoever submitted (the candidate, the clock, a proctor).
SCORING_ACTOR = system_actor("scoring")


def _score_submitted(sender: Session, *, attempt: Any, actor: str, **_: Any) -> None:
    score_attempt(sender, attempt, SCORING_ACTOR)


def connect_pipeline() -> None:
    """Connect every receiver of the pipeline's signals (idempotent: blinker keeps one connection each)."""
    attempt_submitted.connect(_score_submitted)


connect_pipeline()

"""Results that people's final marks complete: an attempt whose essays are all marked, and the levels 2-1
thesis-and-defence part once both are final. Grading announces a final mark on `grading_task_finalised`;
the pipeline calls `complete_from_grading` (exam_server/pipeline.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.grading.models import DEFENCE, FINAL, THESIS, GradingTask
from exam_server.results.models import Result
from exam_server.results.scoring import grading_rules, score_attempt, store_completed
from exam_server.sessions.models import ExamSession
from scoring.results import part_passed
from scoring.rules import weighted_part_score


def complete_from_grading(session: Session, task: GradingTask, actor: str) -> Result | None:
    """A grading task became final: write the result it completes, if every part of it is now known (flushes)."""
    if task.kind in (THESIS, DEFENCE):
        return complete_defence(session, task.session_id, task.candidate_id, actor)
    if task.attempt_id is None:
        return None
    attempt = session.get(Attempt, task.attempt_id)
    return score_attempt(session, attempt, actor, reason="阅卷定分") if attempt is not None else None


def defence_fields(session: Session, exam_session: ExamSession, candidate_id: int) -> dict[str, Any] | None:
    """The levels 2-1 "defence" part (thesis + defence) from the final marks, or None while one is missing."""
    tasks = {
        t.kind: t
        for t in session.scalars(
            select(GradingTask).where(
                GradingTask.session_id == exam_session.id, GradingTask.candidate_id == candidate_id,
                GradingTask.kind.in_((THESIS, DEFENCE)), GradingTask.superseded.is_(False),
            )
        )
    }
    thesis, defence = tasks.get(THESIS), tasks.get(DEFENCE)
    if thesis is None or defence is None or thesis.status != FINAL or defence.status != FINAL:
        return None
    weights = grading_rules(exam_session).defence_weights
    score = weighted_part_score(
        {"thesis": thesis.final_mark, "defence": defence.final_mark},
        {"thesis": thesis.max_points, "defence": defence.max_points},
        weights,
    )
    return {
        "score": score,
        "points": score,
        "max_points": 100.0,
        "passed": part_passed(score, exam_session.blueprint.pass_mark),
        "exempt": False,
        "detail": {"thesis": float(thesis.final_mark), "defence": float(defence.final_mark)},
        "basis": {
            "weights": weights,
            "thesis": {"task": thesis.code, "max_points": thesis.max_points, "rule": thesis.final_rule},
            "defence": {"task": defence.code, "max_points": defence.max_points, "rule": defence.final_rule},
        },
    }


def complete_defence(session: Session, session_id: int, candidate_id: int, actor: str) -> Result | None:
    """Write the thesis-and-defence result of a level 2-1 candidate once both are final (flushes)."""
    exam_session = session.get(ExamSession, session_id)
    if exam_session is None:
        return None
    fields = defence_fields(session, exam_session, candidate_id)
    if fields is None:
        return None
    previous = session.scalar(
        select(Result).where(Result.session_id == session_id, Result.candidate_id == candidate_id,
                             Result.part == "defence", Result.superseded.is_(False))
    )
    return store_completed(session, fields, previous, "论文与答辩定分", actor, candidate_id=candidate_id,
                            exam_session=exam_session, attempt_id=None, part="defence")

"""Turning a submitted attempt into a result, and releasing results."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.models import SCORED, SUBMITTED, Attempt, Response
from exam_server.delivery.states import check_transition
from exam_server.results.models import RELEASED, Result
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.types import item_type
from scoring.results import part_passed
from scoring.rules import part_score


def score_attempt(session: Session, attempt: Attempt, actor: str) -> Result | None:
    """Score `attempt` from its stored responses and locked form into a provisional result.

    Pure and repeatable: a rescore gives the same numbers and supersedes (never edits) the
    earlier result. Returns None while items graded by people are still outstanding.
    """
    from exam_server.delivery.operations import form_items

    items = form_items(session, attempt.form_id)
    if any(not item_type(f.content.type).auto_scored for f in items.values()):
        return None  # people grade it; grading completes the result
    values = {
        r.item_version_id: r.value
        for r in session.scalars(select(Response).where(Response.attempt_id == attempt.id))
    }
    detail: dict[str, float] = {}
    earned = 0.0
    max_points = 0.0
    for version_id, frozen in items.items():
        kind = item_type(frozen.content.type)
        points = kind.score(frozen.content, values.get(version_id), frozen.scoring_rule)
        detail[str(version_id)] = points
        earned += points
        max_points += frozen.points
    score = part_score(earned, max_points)
    pass_mark = attempt.form.blueprint.pass_mark
    previous = session.scalar(
        select(Result).where(Result.attempt_id == attempt.id, Result.superseded.is_(False))
    )
    result = Result(
        candidate_id=attempt.candidate_id,
        session_id=attempt.session_id,
        attempt_id=attempt.id,
        level=attempt.session.level,
        part=attempt.session.part,
        score=score,
        points=earned,
        max_points=max_points,
        passed=part_passed(score, pass_mark),
        detail=detail,
        supersedes_id=previous.id if previous else None,
    )
    if previous is not None:
        previous.superseded = True
    session.add(result)
    if attempt.status == SUBMITTED:
        check_transition("score", attempt.status, SCORED)
        attempt.status = SCORED
    session.flush()
    audit(
        session, actor, "score_attempt", "attempt", attempt.id,
        before={"result_id": previous.id, "score": previous.score} if previous else None,
        after={"result_id": result.id, "score": score, "points": earned},
    )
    return result


def release_results(session: Session, session_id: int, actor: str) -> int:
    """Release every current provisional result of an exam session to its candidates; returns how many."""
    from exam_server.sessions.models import ExamSession

    rows = session.scalars(
        select(Result).where(
            Result.session_id == session_id, Result.superseded.is_(False), Result.status != RELEASED
        )
    ).all()
    now = utcnow()
    for row in rows:
        row.status = RELEASED
        row.released_at = now
    exam_session = session.get(ExamSession, session_id)
    if exam_session is not None:
        exam_session.results_released_at = now
    audit(session, actor, "release_results", "exam_session", session_id, after={"released": len(rows)})
    session.commit()
    return len(rows)

"""Releasing a sitting's results to its candidates (a batch action per sitting, DESIGN.md §4)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.results.scoring import record_missing_exemptions
from exam_server.sessions.models import ExamSession
from item_bank.audit import audit
from item_bank.db import transaction, utcnow


def release_results(session: Session, session_id: int, actor: str) -> int:
    """Release every current provisional result of an exam session to its candidates; returns how many.

    A level-5 sitting first records the theory exemptions still missing, so a release never leaves an
    exempt candidate without theirs. Commits.
    """
    with transaction(session):
        exam_session = session.get(ExamSession, session_id)
        if exam_session is not None:
            record_missing_exemptions(session, exam_session, actor)
        rows = session.scalars(
            select(Result).where(
                Result.session_id == session_id, Result.superseded.is_(False), Result.status != RELEASED
            )
        ).all()
        now = utcnow()
        for row in rows:
            row.status = RELEASED
            row.released_at = now
        if exam_session is not None:
            exam_session.results_released_at = now
            refresh_outcomes(session, {row.candidate_id for row in rows}, exam_session.level, actor, "发布成绩")
        audit(session, actor, "release_results", "exam_session", session_id, after={"released": len(rows)})
    return len(rows)

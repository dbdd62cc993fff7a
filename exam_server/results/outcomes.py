"""Stored level outcomes (等级结果): what a candidate attained at a level, kept with its history.

A level outcome is recomputed from the candidate's current part results whenever one of them is written or
released (`refresh_outcomes`, called by scoring, completion, reviews and release); an unchanged outcome keeps
its row, a different one supersedes it with the reason and actor, and the old row stays. Each part is scored
out of 100 and passes at 60 (scoring.results.level_outcome); an exempt part counts as passed.

For certificates (R2) and reports:

    passed_outcomes(session, sitting_id=None, candidate_id=None)   # current, complete, passed, released rows
    current_outcome(session, candidate_id, level)                  # the current row, whatever it says
    outcome_history(session, candidate_id, level)                  # every row, newest first
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.results.models import RELEASED, LevelOutcome, Result
from exam_server.sessions.models import ExamSession
from item_bank.audit import AuditEvent
from item_bank.db import utcnow
from scoring.results import level_outcome, required_parts

CHUNK = 1000


def theory_and_skill(level: int) -> tuple[str, str]:
    """The parts stored as a level's theory and skill: levels 5-3 sit theory and skill, levels 2-1 a written
    paper and a thesis with its defence (DESIGN.md §1)."""
    return ("theory", "skill") if level >= 3 else ("written", "defence")


def _counts_over(row: Any, have: Any | None) -> bool:
    # The same rule as the results page (queries._counts_over): an exemption counts, else the newest row.
    return have is None or (row.exempt, row.id) > (have.exempt, have.id)


def _fields(level: int, rows: Iterable[Any], dates: dict[int, dt.date]) -> dict[str, Any] | None:
    """The outcome columns from a candidate's current results at `level`, or None when there are none."""
    counting: dict[str, Any] = {}
    required = required_parts(level)
    for row in rows:
        if row.part in required and _counts_over(row, counting.get(row.part)):
            counting[row.part] = row
    if not counting:
        return None
    outcome = level_outcome(
        level,
        {p: r.score for p, r in counting.items() if not r.exempt},
        exemptions=[p for p, r in counting.items() if r.exempt],
    )
    parts: dict[str, Any] = {}
    for part_outcome in outcome.parts:
        row = counting.get(part_outcome.part)
        parts[part_outcome.part] = {
            "status": part_outcome.status,
            "score": part_outcome.score,
            "exempt": part_outcome.status == "exempt",
            "result_id": row.id if row is not None else None,
            "session_id": row.session_id if row is not None else None,
            "released": row is not None and row.status == RELEASED,
        }
    complete = all(p.status != "missing" for p in outcome.parts)
    days = [dates[r.session_id] for r in counting.values() if r.session_id in dates]
    theory, skill = theory_and_skill(level)
    t, s = counting.get(theory), counting.get(skill)
    return {
        "passed": outcome.passed is True,
        "complete": complete,
        "theory_score": None if t is None or t.exempt else t.score,
        "theory_exempt": t is not None and t.exempt,
        "theory_result_id": t.id if t is not None else None,
        "theory_session_id": t.session_id if t is not None else None,
        "skill_score": None if s is None or s.exempt else s.score,
        "skill_result_id": s.id if s is not None else None,
        "skill_session_id": s.session_id if s is not None else None,
        "released": complete and all(r.status == RELEASED for r in counting.values()),
        "outcome_date": max(days) if days else None,
        "parts": {"parts": parts, "reasons": list(outcome.reasons)},
    }


_COMPARED = ("passed", "complete", "theory_score", "theory_exempt", "theory_result_id", "theory_session_id",
             "skill_score", "skill_result_id", "skill_session_id", "released", "outcome_date")


def _same(row: Any, fields: dict[str, Any]) -> bool:
    return all(getattr(row, name) == fields[name] for name in _COMPARED)


def refresh_outcomes(
    session: Session, candidate_ids: Iterable[int], level: int, actor: str, reason: str
) -> list[int]:
    """Recompute the level outcome of each candidate from their current results; store those that changed.

    Returns the new rows' ids. Reads only the columns it needs and writes in bulk (a sitting of 10,000 is
    one statement per chunk, not 10,000 ORM objects). Never commits (it runs inside the write that changed a
    result).
    """
    ids = sorted(set(candidate_ids))
    written: list[int] = []
    now = utcnow()
    reason, actor = reason[:500], actor[:120]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        results: dict[int, list[Any]] = defaultdict(list)
        for row in session.execute(
            select(Result.id, Result.candidate_id, Result.part, Result.exempt, Result.score, Result.status,
                   Result.session_id)
            .where(Result.candidate_id.in_(chunk), Result.level == level, Result.superseded.is_(False))
        ):
            results[row.candidate_id].append(row)
        current = {
            row.candidate_id: row for row in session.execute(
                select(LevelOutcome.id, LevelOutcome.candidate_id, *(getattr(LevelOutcome, c) for c in _COMPARED))
                .where(LevelOutcome.candidate_id.in_(chunk), LevelOutcome.level == level,
                       LevelOutcome.superseded.is_(False))
            )
        }
        session_ids = {r.session_id for rows in results.values() for r in rows if r.session_id is not None}
        dates = {
            sid: starts.astimezone(DISPLAY_ZONE).date()
            for sid, starts in session.execute(
                select(ExamSession.id, ExamSession.starts_at).where(ExamSession.id.in_(session_ids))
            )
        } if session_ids else {}
        rows: list[dict[str, Any]] = []
        for candidate_id in chunk:
            fields = _fields(level, results.get(candidate_id, ()), dates)
            previous = current.get(candidate_id)
            if fields is None or (previous is not None and _same(previous, fields)):
                continue
            rows.append({"candidate_id": candidate_id, "level": level,
                         "supersedes_id": previous.id if previous is not None else None, "superseded": False,
                         "reason": reason, "actor": actor, "created_at": now, **fields})
        if not rows:
            continue
        superseded = [r["supersedes_id"] for r in rows if r["supersedes_id"] is not None]
        if superseded:
            session.execute(update(LevelOutcome).where(LevelOutcome.id.in_(superseded)).values(superseded=True),
                            execution_options={"synchronize_session": False})
        new_ids = list(session.scalars(insert(LevelOutcome).returning(LevelOutcome.id, sort_by_parameter_order=True),
                                       rows))
        session.execute(insert(AuditEvent), [
            {"at": now, "actor": actor, "action": "level_outcome.record", "entity": "level_outcome",
             "entity_id": str(new_id), "reason": reason,
             "before": {"level_outcome_id": row["supersedes_id"]} if row["supersedes_id"] else None,
             "after": {"candidate_id": row["candidate_id"], "level": level, "passed": row["passed"],
                       "complete": row["complete"], "theory_score": row["theory_score"],
                       "theory_exempt": row["theory_exempt"], "skill_score": row["skill_score"],
                       "released": row["released"]}}
            for new_id, row in zip(new_ids, rows, strict=True)
        ])
        written.extend(new_ids)
    if written:
        # Rows written around the ORM: a copy of an outcome a caller holds may be stale now (only those expire,
        # so nothing the caller has not flushed yet is lost).
        for obj in list(session.identity_map.values()):
            if isinstance(obj, LevelOutcome):
                session.expire(obj)
    return written


def current_outcome(session: Session, candidate_id: int, level: int) -> LevelOutcome | None:
    """The candidate's current stored outcome at `level` (passed or not, released or not), or None."""
    return session.scalar(
        select(LevelOutcome).where(LevelOutcome.candidate_id == candidate_id, LevelOutcome.level == level,
                                   LevelOutcome.superseded.is_(False))
        .order_by(LevelOutcome.id.desc()).limit(1)
    )


def passed_outcomes(
    session: Session, *, sitting_id: int | None = None, candidate_id: int | None = None, released_only: bool = True
) -> list[LevelOutcome]:
    """The current outcomes that pass their level with every part known (and released, unless told otherwise):
    those a certificate may be issued on. `sitting_id`: only outcomes counting a part of that sitting."""
    query = select(LevelOutcome).where(
        LevelOutcome.superseded.is_(False), LevelOutcome.passed.is_(True), LevelOutcome.complete.is_(True)
    )
    if released_only:
        query = query.where(LevelOutcome.released.is_(True))
    if sitting_id is not None:
        query = query.where(or_(LevelOutcome.theory_session_id == sitting_id,
                                LevelOutcome.skill_session_id == sitting_id))
    if candidate_id is not None:
        query = query.where(LevelOutcome.candidate_id == candidate_id)
    return list(session.scalars(query.order_by(LevelOutcome.id)))


def outcome_history(session: Session, candidate_id: int, level: int) -> list[LevelOutcome]:
    """Every stored outcome of the candidate at `level`, the current one first."""
    return list(session.scalars(
        select(LevelOutcome).where(LevelOutcome.candidate_id == candidate_id, LevelOutcome.level == level)
        .order_by(LevelOutcome.id.desc())
    ))


__all__ = ["current_outcome", "outcome_history", "passed_outcomes", "refresh_outcomes", "theory_and_skill"]

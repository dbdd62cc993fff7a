"""Reading results: a candidate's levels and outcomes, a sitting's results page, a result's history, the
review requests (复核). Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from exam_server.delivery.misconduct import describe_attempt
from exam_server.delivery.models import CHECKED_IN, IN_PROGRESS, PAUSED, SCHEDULED, Attempt
from exam_server.delivery.states import STATUS_LABELS
from exam_server.results.models import (
    RELEASED,
    REVIEW_REGRADING,
    REVIEW_SUBMITTED,
    KeyCorrection,
    Result,
    ReviewRequest,
)
from exam_server.results.models import (
    LevelOutcome as StoredOutcome,
)
from exam_server.results.release import Blockers, release_blockers
from exam_server.results.scoring import scheduled_exemptions
from exam_server.sessions.models import Candidate, ExamSession, SessionExemption, Ticket
from item_bank.audit import AuditEvent
from item_bank.models import Item, ItemVersion
from scoring.results import LevelOutcome, PartOutcome, required_parts

OPEN_REVIEW_STATUSES = (REVIEW_SUBMITTED, REVIEW_REGRADING)
PARTS = ("theory", "skill", "written", "defence")


@dataclass
class LevelView:
    """A candidate's result at one level: the part results that count and the level outcome."""

    level: int
    parts: dict[str, Result]
    outcome: LevelOutcome


def _counts_over(row: Result, have: Result | None) -> bool:
    # An exemption and a sat paper can both be current for level-5 theory: the exemption counts,
    # else the newest row does.
    return have is None or (row.exempt, row.id) > (have.exempt, have.id)


def _results_of(candidate_id: int, released_only: bool) -> Select[tuple[Result]]:
    query = select(Result).where(Result.candidate_id == candidate_id)
    return query.where(Result.status == RELEASED) if released_only else query.where(Result.superseded.is_(False))


def sat_scores(session: Session, candidate_id: int, released_only: bool = True) -> dict[tuple[int, str], Result]:
    """The newest scored (not exempt) result per (level, part): shown beside an exemption, never counted."""
    out: dict[tuple[int, str], Result] = {}
    for row in session.scalars(_results_of(candidate_id, released_only).where(Result.exempt.is_(False))):
        key = (row.level, row.part)
        if key not in out or row.id > out[key].id:
            out[key] = row
    return out


def candidate_levels(session: Session, candidate_id: int, released_only: bool = True) -> list[LevelView]:
    """Per level, the candidate's STORED outcome (results/outcomes.py) and the part results it counts, never
    recomputed here. `released_only` (the candidate's own page): a part whose counted result is not released yet
    shows as missing, and the level's verdict is the stored one only once every part it counts is released
    (before that: failed if a released part failed, else undecided), so nothing unreleased shows through."""
    stored = list(session.scalars(
        select(StoredOutcome).where(StoredOutcome.candidate_id == candidate_id, StoredOutcome.superseded.is_(False))
        .order_by(StoredOutcome.level.desc(), StoredOutcome.id.desc())
    ))
    counted = {p["result_id"] for o in stored for p in (o.parts or {}).get("parts", {}).values() if p.get("result_id")}
    rows = {r.id: r for r in session.scalars(select(Result).where(Result.id.in_(counted)))} if counted else {}
    views: list[LevelView] = []
    seen: set[int] = set()
    for outcome in stored:
        if outcome.level in seen:
            continue
        seen.add(outcome.level)
        stored_parts = (outcome.parts or {}).get("parts", {})
        parts: dict[str, Result] = {}
        shown: list[PartOutcome] = []
        hidden = False
        for part in required_parts(outcome.level):
            info = stored_parts.get(part, {})
            row = rows.get(info.get("result_id"))
            if row is None or (released_only and row.status != RELEASED):
                hidden = hidden or row is not None
                shown.append(PartOutcome(part, "missing", None))
                continue
            parts[part] = row
            shown.append(PartOutcome(part, info.get("status", "missing"), info.get("score")))
        if not parts:
            continue
        if outcome.complete and not hidden:
            passed: bool | None = outcome.passed
        else:
            passed = False if any(p.status == "failed" for p in shown) else None
        # The stored reasons name every part's score: only shown whole once everything they speak of is out.
        reasons = tuple(outcome.reasons) if not hidden else ()
        views.append(LevelView(outcome.level, parts, LevelOutcome(outcome.level, passed, tuple(shown), reasons)))
    return views


def session_results(session: Session, session_id: int) -> list[Result]:
    """The current results of a session (one per candidate and part), by candidate."""
    return list(session.scalars(
        select(Result).where(Result.session_id == session_id, Result.superseded.is_(False))
        .order_by(Result.candidate_id, Result.part)
    ))


def result_history(session: Session, result: Result) -> list[Result]:
    """`result` and every result it superseded, newest first."""
    chain = [result]
    seen = {result.id}
    while chain[-1].supersedes_id is not None and chain[-1].supersedes_id not in seen:
        older = session.get(Result, chain[-1].supersedes_id)
        if older is None:
            break
        seen.add(older.id)
        chain.append(older)
    return chain


def open_reviews(session: Session) -> list[ReviewRequest]:
    """Review requests not finished yet, oldest first."""
    return list(session.scalars(
        select(ReviewRequest).where(ReviewRequest.status.in_(OPEN_REVIEW_STATUSES)).order_by(ReviewRequest.id)
    ))


# ---------------------------------------------------------------- what the screens show


@dataclass
class SittingResults:
    """The centre's results page of a sitting: per candidate the part results that count and the sat scores
    beside them, the level outcomes, the key corrections and how many results wait for release."""

    tickets: list[Ticket]
    by_candidate: dict[int, dict[str, Result]]
    sat: dict[int, dict[str, Result]]
    outcomes: dict[int, StoredOutcome]
    corrections: list[KeyCorrection]
    provisional: int
    parts: list[str]
    # Per candidate: their attempt's state in words (缺考 for one who never started; how it was submitted).
    attendance: dict[int, str]
    # Per candidate: a force-submit's words (监考员强制交卷（违纪：…）：原因), shown on the list.
    forced: dict[int, str]
    released: int
    blockers: Blockers
    # The theory exemptions decided at scheduling (those candidates hold no ticket of the sitting).
    exempted: list[SessionExemption]
    # Per candidate with a finished attempt: 已交卷 until the scoring job has run, then 已评分.
    states: dict[int, str] = field(default_factory=dict)


def sitting_results(session: Session, exam_session: ExamSession) -> SittingResults:
    """What the centre's results page of `exam_session` shows."""
    session_id = exam_session.id
    tickets = list(session.scalars(select(Ticket).where(Ticket.session_id == session_id).order_by(Ticket.number)))
    by_candidate: dict[int, dict[str, Result]] = defaultdict(dict)
    sat: dict[int, dict[str, Result]] = defaultdict(dict)
    for r in session_results(session, session_id):
        if _counts_over(r, by_candidate[r.candidate_id].get(r.part)):
            by_candidate[r.candidate_id][r.part] = r
        if not r.exempt:
            sat[r.candidate_id][r.part] = r
    # The stored outcomes (results/outcomes.py), not recomputed for the page.
    wanted = {t.candidate_id for t in tickets} | set(by_candidate)
    outcomes = {
        row.candidate_id: row for row in session.scalars(
            select(StoredOutcome).where(StoredOutcome.level == exam_session.level,
                                        StoredOutcome.superseded.is_(False),
                                        StoredOutcome.candidate_id.in_(list(wanted)))
        )
    } if wanted else {}
    corrections = list(session.scalars(
        select(KeyCorrection).where(KeyCorrection.session_id == session_id).order_by(KeyCorrection.id)
    ))
    provisional = sum(1 for parts in by_candidate.values() for r in parts.values() if r.status != RELEASED)
    parts = [p for p in PARTS if any(p in got for got in by_candidate.values()) or p == exam_session.part]
    attendance: dict[int, str] = {}
    forced: dict[int, str] = {}
    states: dict[int, str] = {}
    blockers = release_blockers(session, exam_session)
    open_tickets = {number for number, _name, _state in blockers.attempts}
    for attempt in session.scalars(select(Attempt).where(Attempt.session_id == session_id)):
        number = attempt.ticket.number
        if attempt.status in (SCHEDULED, CHECKED_IN):
            attendance[attempt.candidate_id] = "未开考" if number in open_tickets else "缺考"
        elif attempt.status in (IN_PROGRESS, PAUSED):
            attendance[attempt.candidate_id] = "作答中"
        else:
            attendance[attempt.candidate_id] = describe_attempt(attempt)
            states[attempt.candidate_id] = STATUS_LABELS.get(attempt.status, attempt.status)
            if attempt.submit_reason == "proctor":
                forced[attempt.candidate_id] = describe_attempt(attempt)
    released = session.scalar(select(func.count()).select_from(Result).where(
        Result.session_id == session_id, Result.superseded.is_(False), Result.status == RELEASED)) or 0
    return SittingResults(tickets, by_candidate, sat, outcomes, corrections, provisional, parts, attendance, forced,
                          released, blockers, list(scheduled_exemptions(session, exam_session).values()), states)


def candidate_names_by_attempt(session: Session, session_id: int) -> dict[int, str]:
    """Each attempt of a sitting as staff name it: ticket number and candidate's name (a key correction's report)."""
    return {
        a_id: f"{number} {name}" for a_id, number, name in session.execute(
            select(Attempt.id, Ticket.number, Candidate.name).join(Ticket, Ticket.id == Attempt.ticket_id)
            .join(Candidate, Candidate.id == Attempt.candidate_id).where(Attempt.session_id == session_id)
        )
    }


def version_labels(session: Session, version_ids: Iterable[int]) -> dict[int, str]:
    """Item versions named by their bank number and version ("AQ-0031 第 2 版"), never by internal id."""
    ids = list(set(version_ids))
    if not ids:
        return {}
    return {
        vid: f"{ext} 第 {no} 版" for vid, ext, no in session.execute(
            select(ItemVersion.id, Item.external_id, ItemVersion.version_no)
            .join(Item, Item.id == ItemVersion.item_id).where(ItemVersion.id.in_(ids))
        )
    }


def history_events(session: Session, chain: list[Result]) -> tuple[list[AuditEvent], list[ReviewRequest]]:
    """The audit rows and the review requests of a result's chain, oldest first."""
    events = list(session.scalars(
        select(AuditEvent).where(AuditEvent.entity == "result", AuditEvent.entity_id.in_([str(r.id) for r in chain]))
        .order_by(AuditEvent.id)
    ))
    reviews = list(session.scalars(
        select(ReviewRequest).where(ReviewRequest.result_id.in_([r.id for r in chain])).order_by(ReviewRequest.id)
    ))
    return events, reviews


def recent_reviews(session: Session, limit: int = 200, *, sittings: ColumnElement[bool] | None = None
                   ) -> list[ReviewRequest]:
    """The newest review requests first; only those of the sittings `sittings` (a WHERE clause on ExamSession,
    e.g. a scope's centre clause) if given."""
    query = select(ReviewRequest).order_by(ReviewRequest.id.desc()).limit(limit)
    if sittings is not None:
        query = (query.join(Result, ReviewRequest.result_id == Result.id)
                 .join(ExamSession, Result.session_id == ExamSession.id).where(sittings))
    return list(session.scalars(query))


def reviews_of(session: Session, candidate_id: int) -> list[ReviewRequest]:
    """A candidate's review requests, newest first."""
    return list(session.scalars(
        select(ReviewRequest).where(ReviewRequest.candidate_id == candidate_id).order_by(ReviewRequest.id.desc())
    ))

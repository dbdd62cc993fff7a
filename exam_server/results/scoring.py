"""Turning attempts into results: one attempt at submit, a whole sitting at once, and the level-5 theory
exemption (a result people's final marks complete is written by completion.py through `store_completed`).

Every result is computed from stored data only (responses, the locked form, the sitting's key corrections,
final marks), so scoring again gives the same numbers. A result is never edited: a different outcome is a
new row that supersedes the old one, which stays.

Items people grade become grading tasks through the pipeline: scoring sends `attempt_scored` with the items
still without a final mark, and grading creates their tasks (exam_server/pipeline.py).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exam_server.core.signals import attempt_scored
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import SCORED, SUBMITTED, Attempt
from exam_server.delivery.states import check_transition
from exam_server.grading.rules import GradingRules, rules_of
from exam_server.results.answers import CHUNK, SCORABLE, score_rows, session_points
from exam_server.results.bulk import insert_results
from exam_server.results.errors import ResultsError
from exam_server.results.models import (
    PROVISIONAL,
    RELEASED,
    REVIEW_DONE,
    REVIEW_REGRADING,
    Result,
    ReviewRequest,
)
from exam_server.results.outcomes import refresh_outcomes
from exam_server.results.plan import (
    HumanItem,
    PlanError,
    ScoringPlan,
    build_plan,
    corrections_of,
    sitting_plan,
)
from exam_server.sessions.models import Candidate, ExamSession, SessionExemption, Ticket
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.models import FormItem, Item, ItemVersion
from scoring.results import EXEMPTIBLE_PARTS, ResultChange, diff_results, part_passed

EXEMPTION_RULE = "保安员证发证不满 3 年，五级理论知识免试"


# ---------------------------------------------------------------- small facts


def exam_date(exam_session: ExamSession) -> dt.date:
    """The calendar day of the sitting in Beijing time (the date rules such as the exemption use)."""
    return exam_session.starts_at.astimezone(DISPLAY_ZONE).date()


def scheduled_exemptions(
    session: Session, exam_session: ExamSession, candidate_ids: Iterable[int] | None = None
) -> dict[int, SessionExemption]:
    """The theory exemptions decided when the sitting was scheduled (sessions/scheduling.py), by candidate.

    The only source of an exemption: scoring never decides one. Only a level-5 theory sitting has them
    (scoring.results.EXEMPTIBLE_PARTS); a candidate holding an active ticket of the sitting was scheduled to
    sit it, so an exemption row beside that ticket is ignored (a ticketed candidate who never started is 缺考).
    """
    if exam_session.part not in EXEMPTIBLE_PARTS.get(exam_session.level, frozenset()):
        return {}
    query = select(SessionExemption).where(SessionExemption.session_id == exam_session.id)
    if candidate_ids is not None:
        query = query.where(SessionExemption.candidate_id.in_(list(candidate_ids)))
    ticketed = set(session.scalars(
        select(Ticket.candidate_id).where(Ticket.session_id == exam_session.id, Ticket.status == "active")
    ))
    return {e.candidate_id: e for e in session.scalars(query) if e.candidate_id not in ticketed}


def grading_rules(exam_session: ExamSession) -> GradingRules:
    """The grading and section-weight rules of the session's blueprint."""
    return rules_of(exam_session)


def exemption_fields(candidate: Candidate, exam_session: ExamSession, decision: SessionExemption) -> dict[str, Any]:
    """A theory exemption decided at scheduling as the fields of a result: no score, passed, and what it rests on."""
    return {
        "score": None,
        "points": None,
        "max_points": None,
        "passed": True,
        "exempt": True,
        "detail": {},
        "basis": {
            "exemption": "theory",
            "rule": decision.reason or EXEMPTION_RULE,
            "session_exemption_id": decision.id,
            "application_id": decision.application_id,
            "guard_cert_no": candidate.guard_cert_no,
            "guard_cert_date": candidate.guard_cert_date.isoformat(),
            "exam_date": exam_date(exam_session).isoformat(),
        },
    }


def score_fields(
    plan: ScoringPlan, row: Sequence[float] | np.ndarray, rules: GradingRules, pass_mark: float
) -> dict[str, Any]:
    """One attempt's complete points row as the fields of a result."""
    earned, score = plan.part_score(row, rules.section_weights)
    basis: dict[str, Any] = {"form_id": plan.form_id}
    if plan.corrections:
        basis["corrections"] = [list(c) for c in plan.corrections]
    if rules.section_weights:
        basis["section_weights"] = rules.section_weights
    return {
        "score": score,
        "points": earned,
        "max_points": plan.max_points,
        "passed": part_passed(score, pass_mark),
        "exempt": False,
        "detail": plan.detail(row),
        "basis": basis,
    }


def _same(previous: Result | Any, fields: dict[str, Any]) -> bool:
    return (
        bool(previous.exempt) == fields["exempt"]
        and previous.score == fields["score"]
        and bool(previous.passed) == fields["passed"]
        and (previous.detail or {}) == fields["detail"]
    )


def store_result(
    session: Session,
    *,
    candidate_id: int,
    exam_session: ExamSession,
    attempt_id: int | None,
    part: str,
    fields: dict[str, Any],
    previous: Result | None,
    reason: str,
    actor: str,
    force: bool = False,
    status: str = PROVISIONAL,
    refresh: bool = True,
) -> Result:
    """Record `fields` as the current result, superseding `previous`; an unchanged result is kept as it is.
    `refresh=False`: the caller refreshes the level outcomes itself, once for a batch (refresh_outcomes)."""
    if previous is not None and not force and _same(previous, fields):
        return previous
    now = utcnow()
    result = Result(
        candidate_id=candidate_id,
        session_id=exam_session.id,
        attempt_id=attempt_id,
        level=exam_session.level,
        part=part,
        status=status,
        released_at=now if status == RELEASED else None,
        supersedes_id=previous.id if previous is not None else None,
        reason=reason[:500],
        created_at=now,
        **fields,
    )
    if previous is not None:
        previous.superseded = True
    session.add(result)
    session.flush()
    audit(
        session, actor, "result.record", "result", result.id,
        before={"result_id": previous.id, "score": previous.score, "exempt": previous.exempt} if previous else None,
        after={"attempt_id": attempt_id, "part": part, "score": result.score, "points": result.points,
               "exempt": result.exempt, "passed": result.passed, "status": status},
        reason=reason[:500],
    )
    if refresh:
        refresh_outcomes(session, [candidate_id], exam_session.level, actor, reason)
    return result


def _mark_scored(attempt: Attempt) -> None:
    if attempt.status == SUBMITTED:
        check_transition("score", attempt.status, SCORED)
        attempt.status = SCORED


# ---------------------------------------------------------------- a review's regrade completes here


def _open_regrade(session: Session, result: Result | None) -> ReviewRequest | None:
    if result is None:
        return None
    return session.scalar(
        select(ReviewRequest).where(ReviewRequest.result_id == result.id, ReviewRequest.status == REVIEW_REGRADING)
    )


def close_review(session: Session, review: ReviewRequest, outcome: Result, actor: str, note: str = "") -> None:
    """A review (复核) is done: `outcome` is the result it led to (flushes nothing, audits)."""
    review.status = REVIEW_DONE
    review.outcome_result_id = outcome.id
    review.decided_at = utcnow()
    review.decided_by = review.decided_by or actor
    if note:
        review.note = note
    audit(session, actor, "review.done", "review_request", review.id,
          after={"outcome_result_id": outcome.id, "score": outcome.score}, reason=review.note)


def store_completed(
    session: Session, fields: dict[str, Any], previous: Result | None, reason: str, actor: str, **where: Any
) -> Result:
    """Store a result that became complete; if its old result awaits a review's regrade, the new one is that
    review's outcome (released at once, even when the numbers did not change)."""
    review = _open_regrade(session, previous)
    extra: dict[str, Any] = {}
    if review is not None:
        extra = {"force": True, "status": RELEASED}
        reason = f"复核 #{review.id}：重新评阅后定分"
    result = store_result(session, fields=fields, previous=previous, reason=reason, actor=actor, **where, **extra)
    if review is not None:
        close_review(session, review, result, actor)
    return result


# ---------------------------------------------------------------- one attempt, and a few after their submit


def score_attempt(session: Session, attempt: Attempt, actor: str, reason: str = "评分") -> Result | None:
    """Score `attempt` from its stored responses, the locked form, key corrections and final marks.

    Runs in the caller's transaction (flushes, never commits): grading's final mark completes a result through
    it (completion.py); submitted attempts are scored in batches (`score_attempts`). While items graded by people have no
    final mark, `attempt_scored` asks for their grading tasks and None is returned; grading completes the
    result. Scoring again with the same data keeps the same result; different numbers supersede it.
    """
    exam_session = attempt.session
    previous = session.scalar(
        select(Result).where(Result.attempt_id == attempt.id, Result.superseded.is_(False)).order_by(Result.id.desc())
    )
    plan = sitting_plan(session, attempt.form_id, attempt.session_id)
    row = score_rows(session, plan, [attempt.id])[0]
    if plan.has_human_items and np.isnan(row).any():
        missing = [h for h in plan.human if math.isnan(row[h.column])]
        attempt_scored.send(session, attempt=attempt, result=None, human_items=missing, actor=actor)
        return None
    fields = score_fields(plan, row, grading_rules(exam_session), exam_session.blueprint.pass_mark)
    result = store_completed(
        session, fields, previous, reason, actor, candidate_id=attempt.candidate_id, exam_session=exam_session,
        attempt_id=attempt.id, part=exam_session.part,
    )
    _mark_scored(attempt)
    attempt_scored.send(session, attempt=attempt, result=result, human_items=[], actor=actor)
    return result


@dataclass
class AttemptsScored:
    """What `score_attempts` wrote: the attempts now scored, and those waiting for people (with the tasks made)."""

    scored: list[int] = field(default_factory=list)
    awaiting_grading: int = 0
    tasks_created: int = 0


def score_attempts(
    session: Session, exam_session: ExamSession, attempts: Sequence[Any], actor: str, reason: str = "评分"
) -> AttemptsScored:
    """First results of some of a sitting's submitted attempts, scored at once per form (the path after a
    submit, results/submitted.py). `attempts` are rows with id, form_id and candidate_id, locked by the caller
    and without a current result. Writes as `score_session` does, in bulk; flushes, never commits."""
    rules = grading_rules(exam_session)
    pass_mark = exam_session.blueprint.pass_mark
    pending = _Pending(reason=reason)
    by_form: dict[int, list[Any]] = defaultdict(list)
    for attempt in attempts:
        by_form[attempt.form_id].append(attempt)
    now = utcnow()
    for form_id, group in by_form.items():
        plan = sitting_plan(session, form_id, exam_session.id)
        matrix = score_rows(session, plan, [a.id for a in group])
        for attempt, row in zip(group, matrix, strict=True):
            missing = [h for h in plan.human if math.isnan(row[h.column])]
            if missing:
                pending.waiting.append((attempt.id, missing))
                continue
            pending.scored.append(attempt.id)
            pending.rows.append({
                "candidate_id": attempt.candidate_id, "session_id": exam_session.id, "attempt_id": attempt.id,
                "level": exam_session.level, "part": exam_session.part, "status": PROVISIONAL,
                "supersedes_id": None, "superseded": False, "reason": reason, "created_at": now,
                **score_fields(plan, row, rules, pass_mark),
            })
    report = ScoringReport(exam_session.code)
    _write(session, exam_session, pending, report, actor)
    return AttemptsScored(scored=pending.scored, awaiting_grading=len(pending.waiting),
                          tasks_created=report.tasks_created)


# ---------------------------------------------------------------- a whole sitting


@dataclass
class ScoringReport:
    """What scoring a session did (or, previewed, would do): results written, unchanged, waiting for people,
    exemptions recorded, and what changed why. A preview and the real run fill it from the same
    `sitting_changes`, so on the same data they report the same numbers and the same changes."""

    session_code: str
    attempts: int = 0
    written: int = 0
    # Of `written`: results that replace a different one (each is in `changes`), and first results of an attempt.
    changed: int = 0
    first: int = 0
    unchanged: int = 0
    exempt: int = 0
    awaiting_grading: int = 0
    tasks_created: int = 0
    changes: list[ResultChange] = field(default_factory=list)
    # Per changed attempt, the reason naming items by their position on the paper and bank number.
    reasons: dict[int, str] = field(default_factory=dict)
    # Candidates whose exemption is recorded: (name, reason of the scheduling decision).
    exempted: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    def reason_of(self, change: ResultChange) -> str:
        return self.reasons.get(int(change.attempt), change.reason)

    def summary(self) -> str:
        """One Chinese line whose numbers are those of the tables under it."""
        head = "（试算，未保存）" if self.dry_run else ""
        return (
            f"考试场次 {self.session_code}{head}：已交卷的作答记录 {self.attempts} 份，新成绩 {self.written} 条"
            f"（成绩变化 {self.changed} 条，首次记分 {self.first} 条），未变 {self.unchanged} 条，"
            f"待人工评阅 {self.awaiting_grading} 份（新建阅卷任务 {self.tasks_created} 个），"
            f"新记免试 {self.exempt} 人（排考时已确定）"
        )

    def lines(self) -> list[str]:
        """The report as Chinese lines for the CLI and the staff page."""
        out = [f"{self.summary()}，用时 {self.seconds:.2f} 秒"]
        for change in self.changes:
            out.append(f"  作答记录 {change.attempt}: {self.reason_of(change)}")
        for name, why in self.exempted:
            out.append(f"  免试：{name}（{why}）")
        return out

    def outcome(self) -> dict[str, Any]:
        """What a preview is compared with the real run on (everything but timing and the dry-run flag)."""
        return {
            "attempts": self.attempts, "written": self.written, "changed": self.changed, "first": self.first,
            "unchanged": self.unchanged, "exempt": self.exempt, "awaiting_grading": self.awaiting_grading,
            "changes": [(int(c.attempt), c.old_score, c.new_score, c.old_passed, c.new_passed) for c in self.changes],
            "reasons": dict(self.reasons), "exempted": list(self.exempted),
        }


@dataclass
class _Pending:
    """What scoring a sitting will write: new result rows, the rows they supersede, the attempts scored, the
    attempts waiting for people with the items they wait on, and the exemptions to record."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    scored: list[int] = field(default_factory=list)
    waiting: list[tuple[int, list[HumanItem]]] = field(default_factory=list)
    exemptions: list[tuple[Candidate, SessionExemption]] = field(default_factory=list)
    reason: str = "评分"


def score_session(
    session: Session,
    exam_session: ExamSession,
    actor: str,
    *,
    reason: str = "评分",
    dry_run: bool = False,
    extra_corrections: Iterable[tuple[int, int]] = (),
    replace: bool = False,
) -> ScoringReport:
    """Score every submitted attempt of a session at once (vectorised per form) and write the results.

    Attempts whose numbers have not changed keep their result; changed ones get a new row superseding
    the old with the item-by-item reason. The theory exemptions decided at scheduling are recorded.
    With `dry_run` nothing is written and the report says what would change: both come from
    `sitting_changes`. `extra_corrections` are applied after the stored ones (`replace`: instead of stored
    ones for the same version). Commits.
    """
    started = time.perf_counter()
    report = ScoringReport(exam_session.code, dry_run=dry_run)
    extra = tuple(extra_corrections)
    stored = corrections_of(session, exam_session.id)
    if replace:
        fixed = {old for old, _ in extra}
        stored = tuple(c for c in stored if c[0] not in fixed)
    corrections = stored + extra
    try:
        pending = sitting_changes(session, exam_session, corrections, reason, report)
        if dry_run:
            session.rollback()
        else:
            _write(session, exam_session, pending, report, actor)
            report.seconds = time.perf_counter() - started
            audit(session, actor, "score_session", "exam_session", exam_session.id,
                  after={"attempts": report.attempts, "written": report.written, "unchanged": report.unchanged,
                         "exempt": report.exempt, "awaiting_grading": report.awaiting_grading,
                         "changed": [int(c.attempt) for c in report.changes],
                         "corrections": [list(c) for c in corrections]},
                  reason=reason)
            session.commit()
    except BaseException:
        session.rollback()
        raise
    report.seconds = time.perf_counter() - started
    return report


def item_labels(session: Session, form_id: int) -> dict[str, str]:
    """Per item version id (as `Result.detail` keys it), how staff name the item: its position on the paper and
    its bank number (Item.external_id) with the version, e.g. "第 12 题（AQ-0031 第 1 版）"."""
    rows = session.execute(
        select(FormItem.item_version_id, FormItem.position, Item.external_id, ItemVersion.version_no)
        .join(ItemVersion, ItemVersion.id == FormItem.item_version_id).join(Item, Item.id == ItemVersion.item_id)
        .where(FormItem.form_id == form_id)
    ).all()
    return {str(vid): f"第 {pos} 题（{ext} 第 {no} 版）" for vid, pos, ext, no in rows}


def sitting_changes(
    session: Session, exam_session: ExamSession, corrections: tuple[tuple[int, int], ...], reason: str,
    report: ScoringReport,
) -> _Pending:
    """THE results path of a sitting: what scoring it with `corrections` writes, and the report of it.

    Scores each form's attempts at once, compares them with the current results, and adds the exemptions
    decided at scheduling that have no result yet. Writes nothing: the preview (试算) stops here, the real run
    writes exactly what this returns (`_write`), so the two cannot differ.
    """
    rules = grading_rules(exam_session)
    pass_mark = exam_session.blueprint.pass_mark
    attempts = session.execute(
        select(Attempt.id, Attempt.form_id, Attempt.candidate_id)
        .where(Attempt.session_id == exam_session.id, Attempt.status.in_(SCORABLE))
        .order_by(Attempt.id)
    ).all()
    report.attempts = len(attempts)
    current: dict[int, Any] = {
        row.attempt_id: row
        for row in session.execute(
            select(Result.id, Result.attempt_id, Result.score, Result.detail, Result.exempt, Result.passed)
            .where(Result.session_id == exam_session.id, Result.superseded.is_(False), Result.attempt_id.is_not(None))
        )
    }
    by_form: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for attempt_id, form_id, candidate_id in attempts:
        by_form[form_id].append((attempt_id, candidate_id))
    pending = _Pending(reason=reason)
    now = utcnow()
    for form_id, group in by_form.items():
        try:
            plan = build_plan(session, form_id, corrections)
        except PlanError as exc:
            raise ResultsError(str(exc)) from None
        matrix = session_points(session, exam_session.id, form_id, plan, [a for a, _ in group]).tolist()
        old_detail: dict[int, dict[str, float]] = {}
        new_detail: dict[int, dict[str, float]] = {}
        form_rows: list[dict[str, Any]] = []
        for (attempt_id, candidate_id), row in zip(group, matrix, strict=True):
            missing = [h for h in plan.human if math.isnan(row[h.column])]
            if missing:
                report.awaiting_grading += 1
                pending.waiting.append((attempt_id, missing))
                continue
            fields = score_fields(plan, row, rules, pass_mark)
            prev = current.get(attempt_id)
            pending.scored.append(attempt_id)
            if prev is not None and _same(prev, fields):
                report.unchanged += 1
                continue
            if prev is not None:
                pending.superseded.append(prev.id)
                old_detail[attempt_id] = dict(prev.detail or {})
                new_detail[attempt_id] = fields["detail"]
                report.changed += 1
            else:
                report.first += 1
            form_rows.append({
                "candidate_id": candidate_id, "session_id": exam_session.id, "attempt_id": attempt_id,
                "level": exam_session.level, "part": exam_session.part, "status": PROVISIONAL,
                "supersedes_id": prev.id if prev is not None else None, "superseded": False,
                "reason": reason, "created_at": now, **fields,
            })
        changes = diff_results(old_detail, new_detail, max_points=plan.max_points, pass_mark=pass_mark)
        labels = item_labels(session, form_id) if changes else {}
        change_reason: dict[int, str] = {}
        for change in changes:
            report.changes.append(change)
            report.reasons[int(change.attempt)] = change.describe(labels)
            change_reason[int(change.attempt)] = f"{reason}：{report.reasons[int(change.attempt)]}"
        for row_ in form_rows:
            if row_["attempt_id"] in change_reason:
                row_["reason"] = change_reason[row_["attempt_id"]][:500]
        pending.rows.extend(form_rows)
    report.changes.sort(key=lambda c: int(c.attempt))
    report.written = len(pending.rows)
    pending.exemptions = missing_exemptions(session, exam_session)
    report.exempt = len(pending.exemptions)
    report.exempted = [(c.name, e.reason or EXEMPTION_RULE) for c, e in pending.exemptions]
    return pending


def _write(session: Session, exam_session: ExamSession, pending: _Pending, report: ScoringReport, actor: str) -> None:
    """Write what `sitting_changes` found: tasks asked for, superseded rows, new results and their audit rows
    (in bulk), attempts moved to scored, the exemptions, and the level outcomes they change."""
    for attempt_id, missing in pending.waiting:
        attempt = session.get(Attempt, attempt_id)
        replies = attempt_scored.send(session, attempt=attempt, result=None, human_items=missing, actor=actor)
        report.tasks_created += sum(len(created or ()) for _receiver, created in replies)
    for start in range(0, len(pending.superseded), CHUNK):
        session.execute(
            update(Result).where(Result.id.in_(pending.superseded[start:start + CHUNK])).values(superseded=True)
        )
    if pending.rows:
        insert_results(session.connection(), exam_session.id, pending.rows, actor)
    check_transition("score", SUBMITTED, SCORED)
    for start in range(0, len(pending.scored), CHUNK):
        session.execute(
            update(Attempt)
            .where(Attempt.id.in_(pending.scored[start:start + CHUNK]), Attempt.status == SUBMITTED)
            .values(status=SCORED)
        )
    _record_exemptions(session, exam_session, pending.exemptions, actor)
    refresh_outcomes(session, {row["candidate_id"] for row in pending.rows}, exam_session.level, actor,
                     pending.reason)


def missing_exemptions(
    session: Session, exam_session: ExamSession, candidate_ids: Iterable[int] | None = None
) -> list[tuple[Candidate, SessionExemption]]:
    """The exemptions decided at scheduling (`scheduled_exemptions`) whose result is not recorded yet."""
    decided = scheduled_exemptions(session, exam_session, candidate_ids)
    if not decided:
        return []
    have = set(session.scalars(
        select(Result.candidate_id).where(
            Result.candidate_id.in_(list(decided)), Result.level == exam_session.level,
            Result.part == exam_session.part, Result.exempt.is_(True), Result.superseded.is_(False),
        )
    ))
    todo = sorted(set(decided) - have)
    people = {c.id: c for c in session.scalars(select(Candidate).where(Candidate.id.in_(todo)))} if todo else {}
    return [(people[cid], decided[cid]) for cid in todo]


def _record_exemptions(
    session: Session, exam_session: ExamSession, todo: list[tuple[Candidate, SessionExemption]], actor: str
) -> int:
    for candidate, decision in todo:
        store_result(session, candidate_id=candidate.id, exam_session=exam_session, attempt_id=None,
                     part=exam_session.part, fields=exemption_fields(candidate, exam_session, decision),
                     previous=None, reason=EXEMPTION_RULE, actor=actor)
    return len(todo)


def record_missing_exemptions(
    session: Session, exam_session: ExamSession, actor: str, candidate_ids: Iterable[int] | None = None
) -> int:
    """Record the scheduled theory exemptions of the sitting not recorded yet (release runs this; scoring
    records them through `sitting_changes`). Flushes, never commits."""
    return _record_exemptions(session, exam_session, missing_exemptions(session, exam_session, candidate_ids), actor)

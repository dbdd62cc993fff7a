"""Turning attempts into results: one attempt at submit, a whole session at once, after a key
correction, after people's grading; the level-5 theory exemption; release; review requests (复核).

Every result is computed from stored data only (responses, the locked form, the session's key
corrections, final marks), so scoring again gives the same numbers. A result is never edited: a
different outcome is a new row that supersedes the old one, which stays.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import SCORED, SUBMITTED, Attempt, Response
from exam_server.delivery.states import check_transition
from exam_server.grading.rules import GradingRules
from exam_server.results.bulk import insert_rows
from exam_server.results.models import (
    PROVISIONAL,
    RELEASED,
    REVIEW_DONE,
    REVIEW_REGRADING,
    REVIEW_REJECTED,
    REVIEW_SUBMITTED,
    KeyCorrection,
    Result,
    ReviewRequest,
)
from exam_server.results.plan import PlanError, ScoringPlan, build_plan, mask_of
from exam_server.sessions.models import Candidate, ExamSession, SessionForm, Ticket
from item_bank.audit import AuditEvent, audit
from item_bank.db import utcnow
from item_bank.models import FormItem, ItemVersion
from scoring.results import (
    LevelOutcome,
    ResultChange,
    diff_results,
    level_outcome,
    part_passed,
    required_parts,
    theory_exemption,
)
from scoring.rules import weighted_part_score

SCORABLE = (SUBMITTED, SCORED)
EXEMPTION_RULE = "保安员证发证不满 3 年，五级理论知识免试"
# SQLite's bound-parameter limit is far above this; chunks keep PostgreSQL statements small too.
CHUNK = 1000


class ResultsError(Exception):
    """A results action that cannot be done as asked; the message names what is wrong."""


# ---------------------------------------------------------------- small facts


def exam_date(exam_session: ExamSession) -> dt.date:
    """The calendar day of the sitting in Beijing time (the date rules such as the exemption use)."""
    return exam_session.starts_at.astimezone(DISPLAY_ZONE).date()


def is_exempt(candidate: Candidate, exam_session: ExamSession) -> bool:
    """True when the candidate is exempt from the level-5 theory part at this sitting."""
    if exam_session.level != 5:
        return False
    try:
        return theory_exemption(5, candidate.guard_cert_date, exam_date(exam_session))
    except ValueError:
        # A certificate dated after the exam is a data error; it never earns an exemption.
        return False


def grading_rules(exam_session: ExamSession) -> GradingRules:
    """The grading and section-weight rules of the session's blueprint."""
    return GradingRules.from_spec(exam_session.blueprint.spec)


def corrections_of(session: Session, session_id: int) -> tuple[tuple[int, int], ...]:
    """The session's key corrections as (old version id, new version id), oldest first."""
    rows = session.execute(
        select(KeyCorrection.old_version_id, KeyCorrection.new_version_id)
        .where(KeyCorrection.session_id == session_id)
        .order_by(KeyCorrection.id)
    ).all()
    return tuple((int(a), int(b)) for a, b in rows)


def _exemption_fields(candidate: Candidate, exam_session: ExamSession) -> dict[str, Any]:
    return {
        "score": None,
        "points": None,
        "max_points": None,
        "passed": True,
        "exempt": True,
        "detail": {},
        "basis": {
            "exemption": "theory",
            "rule": EXEMPTION_RULE,
            "guard_cert_no": candidate.guard_cert_no,
            "guard_cert_date": candidate.guard_cert_date.isoformat(),
            "exam_date": exam_date(exam_session).isoformat(),
        },
    }


def _score_fields(
    plan: ScoringPlan, row: Sequence[float] | np.ndarray, rules: GradingRules, pass_mark: float
) -> dict[str, Any]:
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


def _store(
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
) -> Result:
    """Record `fields` as the current result, superseding `previous`; an unchanged result is kept as it is."""
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
    return result


def _mark_scored(attempt: Attempt) -> None:
    if attempt.status == SUBMITTED:
        check_transition("score", attempt.status, SCORED)
        attempt.status = SCORED


def _current_attempt_result(session: Session, attempt_id: int) -> Result | None:
    return session.scalar(
        select(Result).where(Result.attempt_id == attempt_id, Result.superseded.is_(False)).order_by(Result.id.desc())
    )


def _final_marks(session: Session, attempt_ids: Sequence[int]) -> dict[int, dict[int, float]]:
    """Final marks of the current grading tasks of these attempts: attempt → item version → mark."""
    from exam_server.grading.models import FINAL, GradingTask

    marks: dict[int, dict[int, float]] = defaultdict(dict)
    for start in range(0, len(attempt_ids), CHUNK):
        chunk = list(attempt_ids[start:start + CHUNK])
        rows = session.execute(
            select(GradingTask.attempt_id, GradingTask.item_version_id, GradingTask.final_mark).where(
                GradingTask.attempt_id.in_(chunk),
                GradingTask.status == FINAL,
                GradingTask.superseded.is_(False),
                GradingTask.item_version_id.is_not(None),
            )
        ).all()
        for attempt_id, version_id, mark in rows:
            marks[int(attempt_id)][int(version_id)] = float(mark)
    return marks


def _open_regrade(session: Session, result: Result | None) -> ReviewRequest | None:
    if result is None:
        return None
    return session.scalar(
        select(ReviewRequest).where(ReviewRequest.result_id == result.id, ReviewRequest.status == REVIEW_REGRADING)
    )


def _close_review(session: Session, review: ReviewRequest, outcome: Result, actor: str, note: str = "") -> None:
    review.status = REVIEW_DONE
    review.outcome_result_id = outcome.id
    review.decided_at = utcnow()
    review.decided_by = review.decided_by or actor
    if note:
        review.note = note
    audit(session, actor, "review.done", "review_request", review.id,
          after={"outcome_result_id": outcome.id, "score": outcome.score}, reason=review.note)


# ---------------------------------------------------------------- one attempt (the submit path)


def score_attempt(session: Session, attempt: Attempt, actor: str, reason: str = "评分") -> Result | None:
    """Score `attempt` from its stored responses, the locked form, key corrections and final marks.

    Runs inside the submit transaction (flushes, never commits). While items graded by people have no
    final mark, their grading tasks are created and None is returned; grading completes the result.
    Scoring again with the same data keeps the same result; different numbers supersede it with a new row.
    """
    exam_session = attempt.session
    previous = _current_attempt_result(session, attempt.id)
    review = _open_regrade(session, previous)
    extra: dict[str, Any] = {}
    if review is not None:
        extra = {"force": True, "status": RELEASED}
        reason = f"复核 #{review.id}：重新评阅后定分"
    plan = build_plan(session, attempt.form_id, corrections_of(session, attempt.session_id))
    row = score_rows(session, plan, [attempt.id])[0]
    if plan.has_human_items and np.isnan(row).any():
        from exam_server.grading.operations import ensure_item_tasks

        missing = [h for h in plan.human if math.isnan(row[h.column])]
        ensure_item_tasks(session, exam_session, attempt.id, attempt.candidate_id, missing, actor)
        return None
    fields = _score_fields(plan, row, grading_rules(exam_session), exam_session.blueprint.pass_mark)
    result = _store(
        session, candidate_id=attempt.candidate_id, exam_session=exam_session, attempt_id=attempt.id,
        part=exam_session.part, fields=fields, previous=previous, reason=reason, actor=actor, **extra,
    )
    _mark_scored(attempt)
    if review is not None:
        _close_review(session, review, result, actor)
    return result


def score_rows(session: Session, plan: ScoringPlan, attempt_ids: Sequence[int]) -> np.ndarray:
    """Points per attempt × item of a few attempts of one form (NaN where a person's mark is missing)."""
    values: dict[int, dict[int, Any]] = {a: {} for a in attempt_ids}
    for attempt_id, version_id, value in session.execute(
        select(Response.attempt_id, Response.item_version_id, Response.value).where(
            Response.attempt_id.in_(list(attempt_ids))
        )
    ):
        values[attempt_id][version_id] = value
    marks = _final_marks(session, list(attempt_ids)) if plan.has_human_items else {}
    return plan.score([values[a] for a in attempt_ids], [marks.get(a, {}) for a in attempt_ids])


# ---------------------------------------------------------------- a whole session


@dataclass
class ScoringReport:
    """What scoring a session did: results written, unchanged, waiting for people, and what changed why."""

    session_code: str
    attempts: int = 0
    written: int = 0
    unchanged: int = 0
    exempt: int = 0
    awaiting_grading: int = 0
    tasks_created: int = 0
    changes: list[ResultChange] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report as Chinese lines for the CLI and the staff page."""
        head = "（试算，未保存）" if self.dry_run else ""
        out = [
            f"考试场次 {self.session_code}{head}：作答记录 {self.attempts} 份，新成绩 {self.written} 条，"
            f"未变 {self.unchanged} 条，新记免试 {self.exempt} 人，待人工评阅 {self.awaiting_grading} 份"
            f"（新建阅卷任务 {self.tasks_created} 个），用时 {self.seconds:.2f} 秒",
        ]
        for change in self.changes:
            out.append(f"  作答记录 {change.attempt}: {change.reason}")
        return out


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
    the old with the item-by-item reason. Level-5 candidates exempt from theory get an exemption.
    With `dry_run` nothing is written and the report says what would change. `extra_corrections` are
    applied after the stored ones (`replace`: instead of stored ones for the same version). Commits.
    """
    started = time.perf_counter()
    report = ScoringReport(exam_session.code, dry_run=dry_run)
    extra = tuple(extra_corrections)
    if replace:
        fixed = {old for old, _ in extra}
        corrections = tuple(c for c in corrections_of(session, exam_session.id) if c[0] not in fixed) + extra
    else:
        corrections = corrections_of(session, exam_session.id) + extra
    rules = grading_rules(exam_session)
    pass_mark = exam_session.blueprint.pass_mark
    attempts = session.execute(
        select(Attempt.id, Attempt.form_id, Attempt.candidate_id)
        .where(Attempt.session_id == exam_session.id, Attempt.status.in_(SCORABLE))
        .order_by(Attempt.id)
    ).all()
    report.attempts = len(attempts)
    exempt_ids: set[int] = set()
    candidates: dict[int, Candidate] = {}
    if exam_session.level == 5:
        candidates = {
            c.id: c
            for c in session.scalars(
                select(Candidate).join(Ticket, Ticket.candidate_id == Candidate.id).where(
                    Ticket.session_id == exam_session.id
                )
            )
        }
        exempt_ids = {cid for cid, c in candidates.items() if is_exempt(c, exam_session)}
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

    new_rows: list[dict[str, Any]] = []
    superseded: list[int] = []
    scored_ids: list[int] = []
    needs_tasks: list[tuple[int, int, list[Any]]] = []
    now = utcnow()
    for form_id, group in by_form.items():
        try:
            plan = build_plan(session, form_id, corrections)
        except PlanError as exc:
            raise ResultsError(str(exc)) from None
        matrix = _session_points(session, exam_session.id, form_id, plan, group).tolist()
        old_detail: dict[int, dict[str, float]] = {}
        new_detail: dict[int, dict[str, float]] = {}
        change_reason: dict[int, str] = {}
        for r, (attempt_id, candidate_id) in enumerate(group):
            row = matrix[r]
            missing = [h for h in plan.human if math.isnan(row[h.column])]
            if missing:
                report.awaiting_grading += 1
                needs_tasks.append((attempt_id, candidate_id, missing))
                continue
            fields = _score_fields(plan, row, rules, pass_mark)
            prev = current.get(attempt_id)
            if prev is not None and _same(prev, fields):
                report.unchanged += 1
                scored_ids.append(attempt_id)
                continue
            if prev is not None:
                superseded.append(prev.id)
                old_detail[attempt_id] = dict(prev.detail or {})
                new_detail[attempt_id] = fields["detail"]
            new_rows.append({
                "candidate_id": candidate_id, "session_id": exam_session.id, "attempt_id": attempt_id,
                "level": exam_session.level, "part": exam_session.part, "status": PROVISIONAL,
                "supersedes_id": prev.id if prev is not None else None, "superseded": False,
                "reason": reason, "created_at": now, **fields,
            })
            scored_ids.append(attempt_id)
        for change in diff_results(old_detail, new_detail, max_points=plan.max_points, pass_mark=pass_mark):
            report.changes.append(change)
            change_reason[int(change.attempt)] = f"{reason}：{change.reason}"
        for row_ in new_rows:
            if row_["attempt_id"] in change_reason:
                row_["reason"] = change_reason[row_["attempt_id"]][:500]
    report.changes.sort(key=lambda c: int(c.attempt))

    if dry_run:
        session.rollback()
        report.seconds = time.perf_counter() - started
        return report

    if needs_tasks:
        from exam_server.grading.operations import ensure_item_tasks

        for attempt_id, candidate_id, missing in needs_tasks:
            report.tasks_created += len(
                ensure_item_tasks(session, exam_session, attempt_id, candidate_id, missing, actor)
            )
    for start in range(0, len(superseded), CHUNK):
        session.execute(update(Result).where(Result.id.in_(superseded[start:start + CHUNK])).values(superseded=True))
    if new_rows:
        # Core inserts on the session's connection: the ORM's bulk path costs more than the writing.
        result_table, audit_table = Result.__table__, AuditEvent.__table__
        connection = session.connection()
        insert_rows(connection, result_table, new_rows)
        # Ids read back in one query (RETURNING in parameter order runs row by row on SQLite).
        id_of = dict(connection.execute(
            select(result_table.c.attempt_id, result_table.c.id).where(
                result_table.c.session_id == exam_session.id, result_table.c.superseded.is_(False),
                result_table.c.attempt_id.is_not(None), result_table.c.exempt.is_(False),
            )
        ).all())
        ids = [id_of[row["attempt_id"]] for row in new_rows]
        insert_rows(connection, audit_table, [
            {
                "at": now, "actor": actor, "action": "result.record", "entity": "result", "entity_id": str(rid),
                "before": {"result_id": row["supersedes_id"]} if row["supersedes_id"] else None,
                "after": {"attempt_id": row["attempt_id"], "part": row["part"], "score": row["score"],
                          "points": row["points"], "exempt": row["exempt"], "passed": row["passed"]},
                "reason": row["reason"],
            }
            for rid, row in zip(ids, new_rows, strict=True)
        ])
        report.written = len(new_rows)
    check_transition("score", SUBMITTED, SCORED)
    for start in range(0, len(scored_ids), CHUNK):
        session.execute(
            update(Attempt)
            .where(Attempt.id.in_(scored_ids[start:start + CHUNK]), Attempt.status == SUBMITTED)
            .values(status=SCORED)
        )
    if exam_session.level == 5:
        report.exempt = _record_missing_exemptions(session, exam_session, candidates, exempt_ids, actor)
    report.seconds = time.perf_counter() - started
    audit(session, actor, "score_session", "exam_session", exam_session.id,
          after={"attempts": report.attempts, "written": report.written, "unchanged": report.unchanged,
                 "exempt": report.exempt, "awaiting_grading": report.awaiting_grading,
                 "changed": [int(c.attempt) for c in report.changes], "corrections": [list(c) for c in corrections]},
          reason=reason)
    session.commit()
    report.seconds = time.perf_counter() - started
    return report


def _response_rows(session: Session, session_id: int, form_id: int) -> list[tuple[int, int, str | None]]:
    """(attempt id, item version id, stored JSON text) of every response of one form's scorable attempts.

    Read through the DBAPI cursor of the session's own connection and transaction: a session has a
    million responses, and building a SQLAlchemy row (and decoding JSON) for each costs more than
    the scoring. The values stay JSON text, decoded once per distinct answer by the caller.
    """
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    response, attempt = Response.__tablename__, Attempt.__tablename__
    sql = (
        f"SELECT r.attempt_id, r.item_version_id, CAST(r.value AS TEXT) FROM {response} r "
        f"JOIN {attempt} a ON a.id = r.attempt_id "
        f"WHERE a.session_id = {mark} AND a.form_id = {mark} AND a.status IN ({mark}, {mark})"
    )
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, (session_id, form_id, *SCORABLE))
        return cursor.fetchall()
    finally:
        cursor.close()


def _session_points(
    session: Session, session_id: int, form_id: int, plan: ScoringPlan, group: list[tuple[int, int]]
) -> np.ndarray:
    """The points matrix of one form's attempts in a session (rows in `group` order, sorted by attempt id)."""
    # pandas is imported here, on first use, not with the module: the results web domain imports this
    # module, and a restarted exam server must listen again within seconds.
    import pandas as pd

    rows = _response_rows(session, session_id, form_id)
    chosen = np.zeros((len(group), len(plan.option_columns)), dtype=np.uint32)
    others: list[dict[int, Any]] = [{} for _ in group]
    if rows:
        attempt_ids = np.fromiter((a for a, _ in group), dtype=np.int64, count=len(group))
        att_a = np.fromiter((t[0] for t in rows), dtype=np.int64, count=len(rows))
        ver_a = np.fromiter((t[1] for t in rows), dtype=np.int64, count=len(rows))
        raw = [t[2] for t in rows]
        r = np.searchsorted(attempt_ids, att_a).clip(0, len(group) - 1)
        in_group = attempt_ids[r] == att_a
        version_ids = np.asarray(plan.version_ids, dtype=np.int64)  # sorted by construction
        col = np.searchsorted(version_ids, ver_a).clip(0, len(version_ids) - 1)
        on_form = version_ids[col] == ver_a
        option_of_col = np.full(len(version_ids), -1, dtype=np.int64)
        option_of_col[plan.option_columns] = np.arange(len(plan.option_columns))
        j = option_of_col[col]
        # Distinct stored answers are few: decode each once.
        codes, uniques = pd.factorize(np.asarray(raw, dtype=object))
        unique_masks = np.fromiter((mask_of(json.loads(u)) for u in uniques), dtype=np.uint32, count=len(uniques))
        masks = np.where(codes >= 0, unique_masks[codes.clip(0)], 0).astype(np.uint32)
        take = in_group & on_form & (j >= 0) & (masks != 0)
        chosen[r[take], j[take]] = masks[take]
        for k in np.flatnonzero(in_group & on_form & (j < 0) & (codes >= 0)).tolist():
            value = json.loads(raw[k])
            if value is not None:
                others[int(r[k])][int(ver_a[k])] = value
    marks: list[dict[int, float]] | None = None
    if plan.has_human_items:
        found = _final_marks(session, [a for a, _ in group])
        marks = [found.get(a, {}) for a, _ in group]
    return plan.assemble(chosen, others, marks)


def _record_missing_exemptions(
    session: Session, exam_session: ExamSession, candidates: dict[int, Candidate], exempt_ids: set[int], actor: str
) -> int:
    """Record the theory exemption of every exempt level-5 candidate of the sitting who has none yet.

    The exemption is its own result row (no score). A theory paper an exempt candidate chose to sit
    keeps its score as a fact, but the level outcome counts the exemption (see `candidate_levels`).
    """
    if not exempt_ids:
        return 0
    have = set(session.scalars(
        select(Result.candidate_id).where(
            Result.candidate_id.in_(list(exempt_ids)), Result.level == 5, Result.part == "theory",
            Result.exempt.is_(True), Result.superseded.is_(False),
        )
    ))
    added = 0
    for candidate_id in sorted(exempt_ids - have):
        _store(session, candidate_id=candidate_id, exam_session=exam_session, attempt_id=None, part="theory",
               fields=_exemption_fields(candidates[candidate_id], exam_session), previous=None,
               reason=EXEMPTION_RULE, actor=actor)
        added += 1
    return added


# ---------------------------------------------------------------- key corrections


def correct_key(
    session: Session,
    exam_session: ExamSession,
    item_external_id: str,
    actor: str,
    reason: str,
    new_version_no: int | None = None,
    dry_run: bool = False,
) -> ScoringReport:
    """Score the session again with the key of a newer version of an item its papers carry.

    Responses to the version on the session's forms are scored with the key of version
    `new_version_no` of the same item (default: its newest version), which must have the same type.
    The correction is stored, so every later scoring applies it, and the report names each candidate
    whose result changed and why. Correcting the same item again replaces the earlier correction.
    With `dry_run` nothing is stored. Commits.
    """
    from item_bank.models import Item

    reason = (reason or "").strip()
    if not reason:
        raise ResultsError("更正答案必须填写原因")
    item = session.scalar(select(Item).where(Item.external_id == (item_external_id or "").strip()))
    if item is None:
        raise ResultsError(f"没有编号为 {item_external_id} 的试题")
    on_papers = (
        select(FormItem.item_version_id).join(SessionForm, SessionForm.form_id == FormItem.form_id)
        .where(SessionForm.session_id == exam_session.id)
    )
    olds = list(session.scalars(
        select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.id.in_(on_papers))
        .order_by(ItemVersion.version_no)
    ))
    if not olds:
        raise ResultsError(f"试题 {item.external_id} 不在考试场次 {exam_session.code} 的试卷上")
    query = select(ItemVersion).where(ItemVersion.item_id == item.id)
    if new_version_no is not None:
        query = query.where(ItemVersion.version_no == new_version_no)
    new = session.scalar(query.order_by(ItemVersion.version_no.desc()).limit(1))
    if new is None:
        raise ResultsError(f"试题 {item.external_id} 没有第 {new_version_no} 版")
    pairs = []
    for old in olds:
        if new.version_no <= old.version_no:
            raise ResultsError(
                f"试题 {item.external_id} 第 {new.version_no} 版不比试卷上的第 {old.version_no} 版新；请先保存更正后的新版本"
            )
        if old.type != new.type:
            raise ResultsError(f"更正版本的题型（{new.type}）与原题型（{old.type}）不同")
        pairs.append((old, new))
    versions = "、".join(f"第 {old.version_no} 版" for old, _ in pairs)
    label = f"更正答案（试题 {item.external_id} {versions} → 第 {new.version_no} 版：{reason}）"
    existing = {
        c.old_version_id: c for c in session.scalars(
            select(KeyCorrection).where(KeyCorrection.session_id == exam_session.id,
                                        KeyCorrection.old_version_id.in_([o.id for o, _ in pairs]))
        )
    }
    if dry_run:
        return score_session(session, exam_session, actor, reason=label, dry_run=True,
                             extra_corrections=[(old.id, new_.id) for old, new_ in pairs], replace=True)
    for old, new_ in pairs:
        previous = existing.get(old.id)
        before = {"version_id": old.id, "key": old.key}
        if previous is not None:
            if previous.new_version_id == new_.id:
                raise ResultsError(f"试题 {item.external_id} 已按第 {new_.version_no} 版更正过")
            before["corrected_to"] = previous.new_version_id
            previous.new_version_id = new_.id
            previous.reason = reason[:500]
            previous.actor = actor
        else:
            session.add(KeyCorrection(session_id=exam_session.id, old_version_id=old.id,
                                      new_version_id=new_.id, reason=reason[:500], actor=actor))
        audit(session, actor, "key_correction", "exam_session", exam_session.id, before=before,
              after={"version_id": new_.id, "key": new_.key}, reason=reason)
    session.flush()
    return score_session(session, exam_session, actor, reason=label)


# ---------------------------------------------------------------- people's marks into results


def complete_from_grading(session: Session, task: Any, actor: str) -> Result | None:
    """A grading task became final: write the result it completes, if every part of it is now known (flushes)."""
    from exam_server.grading.models import DEFENCE, THESIS

    if task.kind in (THESIS, DEFENCE):
        return complete_defence(session, task.session_id, task.candidate_id, actor)
    if task.attempt_id is None:
        return None
    attempt = session.get(Attempt, task.attempt_id)
    return score_attempt(session, attempt, actor, reason="阅卷定分") if attempt is not None else None


def defence_fields(session: Session, exam_session: ExamSession, candidate_id: int) -> dict[str, Any] | None:
    """The levels 2-1 "defence" part (thesis + defence) from the final marks, or None while one is missing."""
    from exam_server.grading.models import DEFENCE, FINAL, THESIS, GradingTask

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
    review = _open_regrade(session, previous)
    extra: dict[str, Any] = {}
    reason = "论文与答辩定分"
    if review is not None:
        extra = {"force": True, "status": RELEASED}
        reason = f"复核 #{review.id}：重新评阅后定分"
    result = _store(session, candidate_id=candidate_id, exam_session=exam_session, attempt_id=None,
                    part="defence", fields=fields, previous=previous, reason=reason, actor=actor, **extra)
    if review is not None:
        _close_review(session, review, result, actor)
    return result


# ---------------------------------------------------------------- release


def release_results(session: Session, session_id: int, actor: str) -> int:
    """Release every current provisional result of an exam session to its candidates; returns how many.

    A level-5 sitting first records the theory exemptions still missing, so a release never leaves an
    exempt candidate without theirs. Commits.
    """
    exam_session = session.get(ExamSession, session_id)
    if exam_session is not None and exam_session.level == 5:
        candidates = {
            c.id: c for c in session.scalars(
                select(Candidate).join(Ticket, Ticket.candidate_id == Candidate.id).where(Ticket.session_id == session_id)
            )
        }
        exempt_ids = {cid for cid, c in candidates.items() if is_exempt(c, exam_session)}
        _record_missing_exemptions(session, exam_session, candidates, exempt_ids, actor)
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
    audit(session, actor, "release_results", "exam_session", session_id, after={"released": len(rows)})
    session.commit()
    return len(rows)


# ---------------------------------------------------------------- reading results


@dataclass
class LevelView:
    """A candidate's result at one level: the part results that count and the level outcome."""

    level: int
    parts: dict[str, Result]
    outcome: LevelOutcome


def _latest_per_part(rows: Iterable[Result]) -> dict[tuple[int, str], Result]:
    """Per (level, part) the row that counts: an exemption if there is one, else the newest score."""
    latest: dict[tuple[int, str], Result] = {}
    for row in rows:
        key = (row.level, row.part)
        have = latest.get(key)
        if have is None or (row.exempt, row.id) > (have.exempt, have.id):
            latest[key] = row
    return latest


def sat_scores(session: Session, candidate_id: int, released_only: bool = True) -> dict[tuple[int, str], Result]:
    """The newest scored (not exempt) result per (level, part): shown beside an exemption, never counted."""
    query = select(Result).where(Result.candidate_id == candidate_id, Result.exempt.is_(False))
    query = query.where(Result.status == RELEASED) if released_only else query.where(Result.superseded.is_(False))
    out: dict[tuple[int, str], Result] = {}
    for row in session.scalars(query):
        key = (row.level, row.part)
        if key not in out or row.id > out[key].id:
            out[key] = row
    return out


def candidate_levels(session: Session, candidate_id: int, released_only: bool = True) -> list[LevelView]:
    """Per level, the newest result of each required part (released ones only, for the candidate) and the outcome."""
    query = select(Result).where(Result.candidate_id == candidate_id)
    if released_only:
        query = query.where(Result.status == RELEASED)
    else:
        query = query.where(Result.superseded.is_(False))
    latest = _latest_per_part(session.scalars(query))
    views = []
    for level in sorted({lv for lv, _ in latest}, reverse=True):
        parts = {p: latest[(level, p)] for p in required_parts(level) if (level, p) in latest}
        outcome = level_outcome(
            level,
            {p: r.score for p, r in parts.items() if not r.exempt},
            exemptions=[p for p, r in parts.items() if r.exempt],
        )
        views.append(LevelView(level, parts, outcome))
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


# ---------------------------------------------------------------- review requests (复核)


def request_review(session: Session, candidate_id: int, result_id: int, reason: str, actor: str) -> ReviewRequest:
    """A candidate asks for a released result of theirs to be checked again. Commits."""
    reason = (reason or "").strip()
    if not reason:
        raise ResultsError("请写明申请复核的理由")
    if len(reason) > 1000:
        raise ResultsError("复核理由不超过 1000 字")
    result = session.get(Result, result_id)
    if result is None or result.candidate_id != candidate_id:
        raise ResultsError("没有找到这条成绩")
    if result.status != RELEASED:
        raise ResultsError("成绩尚未发布，不能申请复核")
    if result.exempt:
        raise ResultsError("免试科目没有分数，不能申请复核")
    newer = session.scalar(
        select(Result.id).where(Result.candidate_id == candidate_id, Result.level == result.level,
                                Result.part == result.part, Result.status == RELEASED, Result.id > result.id)
    )
    if newer is not None:
        raise ResultsError("这条成绩已被更新的成绩取代")
    open_review = session.scalar(
        select(ReviewRequest.id).where(ReviewRequest.result_id == result_id,
                                       ReviewRequest.status.in_((REVIEW_SUBMITTED, REVIEW_REGRADING)))
    )
    if open_review is not None:
        raise ResultsError("这条成绩已有正在处理的复核申请")
    review = ReviewRequest(result_id=result_id, candidate_id=candidate_id, reason=reason)
    session.add(review)
    session.flush()
    audit(session, actor, "review.request", "review_request", review.id,
          after={"result_id": result_id, "part": result.part, "score": result.score}, reason=reason)
    session.commit()
    return review


def _recompute(session: Session, result: Result) -> dict[str, Any] | None:
    exam_session = session.get(ExamSession, result.session_id)
    if exam_session is None:
        return None
    if result.exempt:
        candidate = session.get(Candidate, result.candidate_id)
        return _exemption_fields(candidate, exam_session) if is_exempt(candidate, exam_session) else None
    if result.part == "defence" and result.attempt_id is None:
        return defence_fields(session, exam_session, result.candidate_id)
    attempt = session.get(Attempt, result.attempt_id)
    if attempt is None:
        return None
    plan = build_plan(session, attempt.form_id, corrections_of(session, attempt.session_id))
    row = score_rows(session, plan, [attempt.id])[0]
    if np.isnan(row).any():
        return None
    return _score_fields(plan, row, grading_rules(exam_session), exam_session.blueprint.pass_mark)


def decide_review(session: Session, review_id: int, action: str, actor: str, note: str = "") -> ReviewRequest:
    """Centre staff act on a review: "rescore" (核分), "regrade" (重新评阅) or "reject" (驳回, with a note).

    A rescore writes a new released result at once, superseding the old one even when nothing changed
    (the row records that the review happened). A regrade sends the human-graded work back to new
    graders; the new result follows when their marks are final. Commits.
    """
    review = session.get(ReviewRequest, review_id, with_for_update=True)
    if review is None:
        raise ResultsError("没有找到这条复核申请")
    if review.status != REVIEW_SUBMITTED:
        raise ResultsError("这条复核申请已经处理过了")
    result = review.result
    exam_session = session.get(ExamSession, result.session_id)
    note = (note or "").strip()
    review.action = action
    review.decided_by = actor
    if action == "reject":
        if not note:
            raise ResultsError("驳回复核申请必须写明理由")
        review.status = REVIEW_REJECTED
        review.note = note
        review.decided_at = utcnow()
        audit(session, actor, "review.reject", "review_request", review.id, reason=note)
    elif action == "rescore":
        fields = _recompute(session, result)
        if fields is None:
            raise ResultsError("这条成绩还不能重新核分（缺少评分数据）")
        new = _store(session, candidate_id=result.candidate_id, exam_session=exam_session,
                     attempt_id=result.attempt_id, part=result.part, fields=fields, previous=result,
                     reason=f"复核 #{review.id}：核分" + (f"（{note}）" if note else ""), actor=actor,
                     force=True, status=RELEASED)
        if new.score == result.score:
            note = note or f"经核分，成绩 {result.score:g} 分无误"
        else:
            note = note or f"经核分，成绩由 {result.score:g} 分更正为 {new.score:g} 分"
        _close_review(session, review, new, actor, note)
    elif action == "regrade":
        from exam_server.grading.operations import regrade_for_review

        created = regrade_for_review(session, result, actor)
        if not created:
            raise ResultsError("这条成绩没有人工评阅的部分，只能核分")
        review.status = REVIEW_REGRADING
        review.note = note
        audit(session, actor, "review.regrade", "review_request", review.id,
              after={"tasks": [t.code for t in created]}, reason=note)
    else:
        raise ResultsError(f"未知的复核处理方式 {action!r}（rescore / regrade / reject）")
    session.commit()
    return review


def open_reviews(session: Session) -> list[ReviewRequest]:
    """Review requests not finished yet, oldest first."""
    return list(session.scalars(
        select(ReviewRequest).where(ReviewRequest.status.in_((REVIEW_SUBMITTED, REVIEW_REGRADING)))
        .order_by(ReviewRequest.id)
    ))


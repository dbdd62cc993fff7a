"""Review requests (成绩复核): a candidate asks for a released result to be checked again, and centre staff
decide: recount it from stored data (核分), send the human-graded work back to new graders (重新评阅), or
reject it with a reason. A regrade goes to grading on `regrade_requested` (exam_server/pipeline.py); its
new result closes the review when the new marks are final (scoring.py).

A review may be asked for only within the window the rules give (review_rules.json: `window_days` days from the
day the result was released, Beijing dates, the last day included); the candidate's page and the score report show
the last day.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.signals import regrade_requested
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import Attempt
from exam_server.results.answers import score_rows
from exam_server.results.completion import defence_fields
from exam_server.results.errors import ResultsError
from exam_server.results.models import (
    RELEASED,
    REVIEW_REGRADING,
    REVIEW_REJECTED,
    REVIEW_SUBMITTED,
    Result,
    ReviewRequest,
)
from exam_server.results.plan import sitting_plan
from exam_server.results.scoring import (
    close_review,
    exemption_fields,
    grading_rules,
    scheduled_exemptions,
    score_fields,
    store_result,
)
from exam_server.sessions.models import Candidate, ExamSession
from item_bank.audit import audit
from item_bank.db import transaction, utcnow

OPEN_STATUSES = (REVIEW_SUBMITTED, REVIEW_REGRADING)
RULES = Path(__file__).with_name("review_rules.json")


@cache
def review_window_days() -> int:
    """How many days after its release a result may be reviewed (review_rules.json)."""
    days = json.loads(RULES.read_text(encoding="utf-8"))["window_days"]
    if not isinstance(days, int) or days < 1:
        raise ValueError(f"review_rules.json: window_days 应为正整数，而不是 {days!r}")
    return days


def review_deadline(released_at: dt.datetime | None) -> dt.date | None:
    """The last day (Beijing date, included) a result released at `released_at` may be reviewed; None unreleased."""
    if released_at is None:
        return None
    return released_at.astimezone(DISPLAY_ZONE).date() + dt.timedelta(days=review_window_days())


def review_open(released_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    """Whether a review of a result released at `released_at` may still be asked for."""
    deadline = review_deadline(released_at)
    return deadline is not None and (now or utcnow()).astimezone(DISPLAY_ZONE).date() <= deadline


def request_review(session: Session, candidate_id: int, result_id: int, reason: str, actor: str) -> ReviewRequest:
    """A candidate asks for a released result of theirs to be checked again. Commits."""
    reason = (reason or "").strip()
    if not reason:
        raise ResultsError("请写明申请复核的理由")
    if len(reason) > 1000:
        raise ResultsError("复核理由不超过 1000 字")
    with transaction(session):
        result = session.get(Result, result_id)
        if result is None or result.candidate_id != candidate_id:
            raise ResultsError("没有找到这条成绩")
        if result.status != RELEASED:
            raise ResultsError("成绩尚未发布，不能申请复核")
        if result.exempt:
            raise ResultsError("免试科目没有分数，不能申请复核")
        if not review_open(result.released_at):
            deadline = review_deadline(result.released_at)
            raise ResultsError(f"已超过复核申请期限：复核须在成绩发布之日起 {review_window_days()} 日内申请"
                               f"（本科目截止 {deadline:%Y年%m月%d日}）")
        newer = session.scalar(
            select(Result.id).where(Result.candidate_id == candidate_id, Result.level == result.level,
                                    Result.part == result.part, Result.status == RELEASED, Result.id > result.id)
        )
        if newer is not None:
            raise ResultsError("这条成绩已被更新的成绩取代")
        open_review = session.scalar(
            select(ReviewRequest.id).where(ReviewRequest.result_id == result_id,
                                           ReviewRequest.status.in_(OPEN_STATUSES))
        )
        if open_review is not None:
            raise ResultsError("这条成绩已有正在处理的复核申请")
        review = ReviewRequest(result_id=result_id, candidate_id=candidate_id, reason=reason)
        session.add(review)
        session.flush()
        audit(session, actor, "review.request", "review_request", review.id,
              after={"result_id": result_id, "part": result.part, "score": result.score}, reason=reason)
    return review


def _recompute(session: Session, result: Result) -> dict[str, Any] | None:
    exam_session = session.get(ExamSession, result.session_id)
    if exam_session is None:
        return None
    if result.exempt:
        # An exemption rests on the scheduling decision; a recount finds it there or not at all.
        candidate = session.get(Candidate, result.candidate_id)
        decision = scheduled_exemptions(session, exam_session, [result.candidate_id]).get(result.candidate_id)
        return exemption_fields(candidate, exam_session, decision) if decision is not None else None
    if result.part == "defence" and result.attempt_id is None:
        return defence_fields(session, exam_session, result.candidate_id)
    attempt = session.get(Attempt, result.attempt_id)
    if attempt is None:
        return None
    plan = sitting_plan(session, attempt.form_id, attempt.session_id)
    row = score_rows(session, plan, [attempt.id])[0]
    if np.isnan(row).any():
        return None
    return score_fields(plan, row, grading_rules(exam_session), exam_session.blueprint.pass_mark)


def _rescore(session: Session, review: ReviewRequest, result: Result, actor: str, note: str) -> None:
    """核分: a new released result from stored data at once, superseding the old even when nothing changed
    (the row records that the review happened)."""
    fields = _recompute(session, result)
    if fields is None:
        raise ResultsError("这条成绩还不能重新核分（缺少评分数据）")
    new = store_result(session, candidate_id=result.candidate_id, exam_session=session.get(ExamSession, result.session_id),
                       attempt_id=result.attempt_id, part=result.part, fields=fields, previous=result,
                       reason=f"复核 #{review.id}：核分" + (f"（{note}）" if note else ""), actor=actor,
                       force=True, status=RELEASED)
    if new.score == result.score:
        note = note or f"经核分，成绩 {result.score:g} 分无误"
    else:
        note = note or f"经核分，成绩由 {result.score:g} 分更正为 {new.score:g} 分"
    close_review(session, review, new, actor, note)


def _regrade(session: Session, review: ReviewRequest, result: Result, actor: str, note: str) -> None:
    """重新评阅: grading makes a new round of the tasks behind the result; the new result follows when their
    marks are final."""
    replies = regrade_requested.send(session, result=result, actor=actor)
    created = [task for _receiver, tasks in replies for task in tasks or ()]
    if not created:
        raise ResultsError("这条成绩没有人工评阅的部分，只能核分")
    review.status = REVIEW_REGRADING
    review.note = note
    audit(session, actor, "review.regrade", "review_request", review.id,
          after={"tasks": [t.code for t in created]}, reason=note)


def _reject(session: Session, review: ReviewRequest, actor: str, note: str) -> None:
    if not note:
        raise ResultsError("驳回复核申请必须写明理由")
    review.status = REVIEW_REJECTED
    review.note = note
    review.decided_at = utcnow()
    audit(session, actor, "review.reject", "review_request", review.id, reason=note)


def decide_review(session: Session, review_id: int, action: str, actor: str, note: str = "") -> ReviewRequest:
    """Centre staff act on a review: "rescore" (核分), "regrade" (重新评阅) or "reject" (驳回, with a note).

    A rescore writes a new released result at once, superseding the old one even when nothing changed
    (the row records that the review happened). A regrade sends the human-graded work back to new
    graders; the new result follows when their marks are final. Commits.
    """
    with transaction(session):
        review = session.get(ReviewRequest, review_id, with_for_update=True)
        if review is None:
            raise ResultsError("没有找到这条复核申请")
        if review.status != REVIEW_SUBMITTED:
            raise ResultsError("这条复核申请已经处理过了")
        note = (note or "").strip()
        review.action = action
        review.decided_by = actor
        if action == "reject":
            _reject(session, review, actor, note)
        elif action == "rescore":
            _rescore(session, review, review.result, actor, note)
        elif action == "regrade":
            _regrade(session, review, review.result, actor, note)
        else:
            raise ResultsError(f"未知的复核处理方式 {action!r}（rescore / regrade / reject）")
    return review

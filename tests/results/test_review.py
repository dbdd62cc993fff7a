"""Review requests (复核): a rescore writes a new released result that supersedes the old one, which stays."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading.seed import CANDIDATES, seed_paper_sitting, sit
from exam_server.results.errors import ResultsError
from exam_server.results.models import RELEASED, Result, ReviewRequest
from exam_server.results.queries import candidate_levels
from exam_server.results.release import release_results
from exam_server.results.review_requests import decide_review, request_review

PAPER = [{"type": "judge", "stem": f"判断 {i}", "options": ["正确", "错误"], "key": "A", "points": 1}
         for i in range(4)]


def test_rescore_and_reject(session: Session) -> None:
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="R4",
                                name="四级理论", candidates=CANDIDATES[:2])
    for attempt_id in seeded.attempt_ids[:2]:
        sit(session, attempt_id, {v: "A" for v in seeded.version_ids[:3]})
    first, second = seeded.candidate_ids[:2]
    result = session.scalar(select(Result).where(Result.candidate_id == first))
    assert result.score == 75.0
    with pytest.raises(ResultsError, match="尚未发布"):
        request_review(session, first, result.id, "请核分", "candidate:1")
    release_results(session, seeded.exam_session_id, "staff")
    with pytest.raises(ResultsError, match="理由"):
        request_review(session, first, result.id, "  ", "candidate:1")
    review = request_review(session, first, result.id, "请核分", "candidate:1")
    with pytest.raises(ResultsError, match="正在处理"):
        request_review(session, first, result.id, "再次", "candidate:1")
    with pytest.raises(ResultsError, match="只能核分"):
        decide_review(session, review.id, "regrade", "staff")
    session.rollback()
    decide_review(session, review.id, "rescore", "staff")
    session.expire_all()
    review = session.get(ReviewRequest, review.id)
    new = session.get(Result, review.outcome_result_id)
    assert review.status == "done" and "无误" in review.note
    assert new.score == 75.0 and new.status == RELEASED and new.supersedes_id == result.id
    assert session.get(Result, result.id).superseded
    (view,) = candidate_levels(session, first)
    assert view.parts["theory"].id == new.id
    with pytest.raises(ResultsError, match="已被更新的成绩取代"):
        request_review(session, first, result.id, "again", "candidate:1")

    other = session.scalar(select(Result).where(Result.candidate_id == second))
    review2 = request_review(session, second, other.id, "题目有歧义", "candidate:2")
    with pytest.raises(ResultsError, match="必须写明理由"):
        decide_review(session, review2.id, "reject", "staff")
    session.rollback()
    decide_review(session, review2.id, "reject", "staff", "评分无误，题目无歧义")
    assert session.get(ReviewRequest, review2.id).status == "rejected"
    assert not session.get(Result, other.id).superseded

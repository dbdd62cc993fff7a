"""Scoring a sitting through the product path: hand-worked examples for every rule, the single-attempt and
the whole-session paths agreeing bit for bit, deterministic rescoring, and key corrections."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from exam_server.grading.seed import seed_paper_sitting, sit
from exam_server.results.corrections import correct_key
from exam_server.results.errors import ResultsError
from exam_server.results.models import KeyCorrection, LevelOutcome, Result
from exam_server.results.scoring import score_attempt, score_session
from exam_server.sessions.models import ExamSession
from item_bank.audit import AuditEvent
from item_bank.models import APPROVED, ItemVersion
from item_bank.versions import ItemDraft, revise_item

MIXED = [
    {"type": "single", "stem": "单选一（ ）", "options": ["甲", "乙", "丙", "丁"], "key": "B", "points": 1},
    {"type": "single", "stem": "单选二（ ）", "options": ["甲", "乙", "丙", "丁"], "key": "C", "points": 1},
    {"type": "judge", "stem": "判断一", "options": ["正确", "错误"], "key": "A", "points": 1},
    {"type": "judge", "stem": "判断二", "options": ["正确", "错误"], "key": "B", "points": 1},
    {"type": "multiple", "stem": "多选一", "options": ["甲", "乙", "丙", "丁", "戊"], "key": "ABD", "points": 2,
     "scoring_rule": "partial"},
    {"type": "multiple", "stem": "多选二", "options": ["甲", "乙", "丙", "丁"], "key": "AC", "points": 2,
     "scoring_rule": "partial"},
    {"type": "fill", "stem": "保安员证由（ ）核发。", "key": [["公安机关", "公安"]], "points": 2},
    {"type": "fill", "stem": "保安服务包括（ ）和（ ）等。", "key": [["巡逻"], ["守护", "门卫"]], "points": 2},
]

# Hand-worked: answers per candidate, the points each item earns, and the 100-point part score.
ANSWERS: list[list[Any]] = [
    ["B", "C", "A", "B", "ABD", "AC", ["公安机关"], ["巡逻", "门卫"]],
    ["B", "D", "A", "A", "AB", "ACD", ["　公安 "], ["巡 逻", "保安"]],  # full-width space, spaces normalised away
    [None] * 8,
    ["A", "A", "B", "A", "ABD", "BD", ["派出所"], ["", ""]],
]
EXPECTED_POINTS = [
    [1, 1, 1, 1, 2, 2, 2, 2],
    [1, 0, 1, 0, 2 * 2 / 3, 0, 2, 1],  # partial credit 2 of 3 keys; a wrong choice voids AC; one blank of two
    [0] * 8,
    [0, 0, 0, 0, 2, 0, 0, 0],
]
EXPECTED_SCORES = [100.0, 52.8, 0.0, 16.7]  # 6.333/12 = 52.78 -> 52.8; 2/12 = 16.67 -> 16.7


def _play(session: Session, seeded: Any) -> None:
    for attempt_id, answers in zip(seeded.attempt_ids, ANSWERS, strict=True):
        values = {vid: v for vid, v in zip(seeded.version_ids, answers, strict=True) if v is not None}
        sit(session, attempt_id, values)


@pytest.fixture
def mixed(session: Session) -> Any:
    seeded = seed_paper_sitting(session, MIXED, level=5, part="theory", hash_profile="low",
                                name="五级理论 混合题型")
    _play(session, seeded)
    return seeded


def _results(session: Session, session_id: int) -> dict[int, Result]:
    session.expire_all()
    return {r.attempt_id: r for r in session.scalars(
        select(Result).where(Result.session_id == session_id, Result.superseded.is_(False), Result.exempt.is_(False))
    )}


def test_every_rule_matches_the_hand_worked_example(session: Session, mixed: Any) -> None:
    results = _results(session, mixed.exam_session_id)
    for attempt_id, points, score in zip(mixed.attempt_ids, EXPECTED_POINTS, EXPECTED_SCORES, strict=True):
        result = results[attempt_id]
        got = [result.detail[str(v)] for v in mixed.version_ids]
        assert got == pytest.approx(points, abs=1e-12)
        assert result.score == score
        assert result.max_points == 12
        assert result.passed == (score >= 60)


def test_single_attempt_and_whole_session_give_identical_numbers(session: Session, mixed: Any) -> None:
    at_submit = {a: (r.score, r.points, dict(r.detail)) for a, r in _results(session, mixed.exam_session_id).items()}
    exam_session = session.get(ExamSession, mixed.exam_session_id)
    # Nothing differs, so a session scoring keeps every result the submit path wrote.
    report = score_session(session, exam_session, "test")
    assert (report.attempts, report.written, report.unchanged) == (4, 0, 4)
    # Scored from nothing by the vectorised path, the numbers are the same bit for bit.
    session.execute(delete(LevelOutcome))  # they point at the results they count
    session.execute(delete(Result).where(Result.session_id == exam_session.id))
    session.commit()
    report = score_session(session, exam_session, "test")
    assert report.written == 4
    again = {a: (r.score, r.points, dict(r.detail)) for a, r in _results(session, mixed.exam_session_id).items()}
    assert again == at_submit


def test_rescoring_is_deterministic(session: Session, mixed: Any) -> None:
    exam_session = session.get(ExamSession, mixed.exam_session_id)
    before = {r.id for r in session.scalars(select(Result))}
    for _ in range(3):
        report = score_session(session, exam_session, "test")
        assert report.written == 0 and report.changes == []
    assert {r.id for r in session.scalars(select(Result))} == before
    from exam_server.delivery.models import Attempt

    attempt = session.get(Attempt, mixed.attempt_ids[1])
    assert score_attempt(session, attempt, "test").id in before


def test_section_weights_from_the_blueprint(session: Session) -> None:
    seeded = seed_paper_sitting(
        session, MIXED, level=5, part="theory", hash_profile="low", code="W5",
        grading={"section_weights": {"single": 40, "judge": 20, "multiple": 20, "fill": 20}},
    )
    _play(session, seeded)
    results = _results(session, seeded.exam_session_id)
    # Candidate 2: single 1/2, judge 1/2, multiple (4/3)/4, fill 3/4 -> 20 + 10 + 6.667 + 15 = 51.7
    assert results[seeded.attempt_ids[1]].score == 51.7
    assert results[seeded.attempt_ids[0]].score == 100.0
    assert results[seeded.attempt_ids[1]].basis["section_weights"]["single"] == 40


def _corrected_version(session: Session, version_id: int, key: str) -> ItemVersion:
    old = session.get(ItemVersion, version_id)
    draft = ItemDraft.from_version(old)
    draft.key = key
    new = revise_item(session, old.item, draft, actor="author", author_id=None)
    new.status = APPROVED
    session.commit()
    return new


def test_a_key_correction_shows_who_changed_and_why_and_is_audited(session: Session, mixed: Any) -> None:
    exam_session = session.get(ExamSession, mixed.exam_session_id)
    second = mixed.version_ids[1]  # single choice keyed C; the correct key is D
    new = _corrected_version(session, second, "D")
    item = new.item.external_id
    with pytest.raises(ResultsError, match="原因"):
        correct_key(session, exam_session, item, "staff", "  ")

    preview = correct_key(session, exam_session, item, "staff", "原答案有误", dry_run=True)
    assert session.scalar(select(KeyCorrection)) is None
    changed = {int(c.attempt): c for c in preview.changes}
    assert set(changed) == {mixed.attempt_ids[0], mixed.attempt_ids[1]}
    first, second_c = changed[mixed.attempt_ids[0]], changed[mixed.attempt_ids[1]]
    assert (first.old_score, first.new_score) == (100.0, 91.7)
    assert (second_c.old_score, second_c.new_score) == (52.8, 61.1)
    assert second_c.old_passed is False and second_c.new_passed is True
    assert "由不合格改为合格" in second_c.reason and f"第 {second} 题 0 → 1 分" in second_c.reason

    report = correct_key(session, exam_session, item, "staff", "原答案有误")
    assert [(int(c.attempt), c.new_score) for c in report.changes] == [(int(c.attempt), c.new_score)
                                                                       for c in preview.changes]
    assert report.written == 2 and report.unchanged == 2
    results = _results(session, exam_session.id)
    assert results[mixed.attempt_ids[1]].score == 61.1 and results[mixed.attempt_ids[1]].passed
    assert "原答案有误" in results[mixed.attempt_ids[1]].reason
    old = session.get(Result, results[mixed.attempt_ids[1]].supersedes_id)
    assert old.superseded and old.score == 52.8  # kept, not overwritten
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "key_correction" in actions and actions[-1] == "score_session"
    # The correction is stored: every later scoring applies it and changes nothing more.
    assert score_session(session, exam_session, "test").written == 0
    with pytest.raises(ResultsError, match="已按第 2 版更正过"):
        correct_key(session, exam_session, item, "staff", "again")


def test_a_correction_must_be_a_newer_version_of_an_item_on_the_paper(session: Session, mixed: Any) -> None:
    exam_session = session.get(ExamSession, mixed.exam_session_id)
    with pytest.raises(ResultsError, match="没有编号"):
        correct_key(session, exam_session, "NOPE-1", "staff", "x")
    item = session.get(ItemVersion, mixed.version_ids[0]).item.external_id
    with pytest.raises(ResultsError, match="不比试卷上的"):
        correct_key(session, exam_session, item, "staff", "x")

"""Stored level outcomes (等级结果): written when a part's result changes, kept with their history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading.seed import seed_paper_sitting, sit
from exam_server.results.corrections import correct_key
from exam_server.results.models import LevelOutcome
from exam_server.results.outcomes import current_outcome, outcome_history, passed_outcomes
from exam_server.results.release import release_results
from exam_server.sessions.models import ExamSession
from item_bank.audit import AuditEvent
from item_bank.models import APPROVED, ItemVersion
from item_bank.versions import ItemDraft, revise_item

PAPER = [
    {"type": "single", "stem": f"单选 {i}（ ）", "options": ["甲", "乙", "丙", "丁"], "key": "A", "points": 20}
    for i in range(5)
]
PEOPLE = [("440106199001010011", "甲考生", "南方安保"), ("440106199001010022", "乙考生", "南方安保")]


def _answers(version_ids: list[int], right: int) -> dict[int, str]:
    return {v: ("A" if i < right else "B") for i, v in enumerate(version_ids)}


def test_outcome_is_stored_superseded_with_reason_and_actor_and_offered_to_certificates(session: Session) -> None:
    theory = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", candidates=PEOPLE,
                                code="OT4")
    skill = seed_paper_sitting(session, PAPER, level=4, part="skill", hash_profile="low", candidates=PEOPLE,
                               code="OK4")
    first, second = theory.candidate_ids
    # 甲: theory 80 then skill 60 (passes); 乙: theory 60, skill 40 (fails).
    for attempt_id, right in zip(theory.attempt_ids, [4, 3], strict=True):
        sit(session, attempt_id, _answers(theory.version_ids, right))
    outcome = current_outcome(session, first, 4)
    assert outcome is not None and outcome.theory_score == 80 and outcome.skill_score is None
    assert not outcome.complete and not outcome.passed and not outcome.released
    for attempt_id, right in zip(skill.attempt_ids, [3, 2], strict=True):
        sit(session, attempt_id, _answers(skill.version_ids, right))
    outcome = current_outcome(session, first, 4)
    assert outcome.complete and outcome.passed and outcome.skill_score == 60 and outcome.theory_score == 80
    assert outcome.outcome_date is not None and outcome.theory_session_id == theory.exam_session_id
    assert not current_outcome(session, second, 4).passed
    # Not released yet: no certificate may rest on it.
    assert passed_outcomes(session) == []
    release_results(session, theory.exam_session_id, "staff:release")
    assert passed_outcomes(session) == []
    release_results(session, skill.exam_session_id, "staff:release")
    (released,) = passed_outcomes(session)
    assert released.candidate_id == first and released.released
    assert passed_outcomes(session, sitting_id=theory.exam_session_id) == [released]
    assert passed_outcomes(session, sitting_id=skill.exam_session_id, candidate_id=second) == []
    assert released.reason == "发布成绩" and released.actor == "staff:release"

    # A key correction of the skill paper makes 乙's skill 60: a new outcome, the old rows stay.
    skill_session = session.get(ExamSession, skill.exam_session_id)
    old = session.get(ItemVersion, skill.version_ids[4])
    draft = ItemDraft.from_version(old)
    draft.key = "B"
    revise_item(session, old.item, draft, actor="author", author_id=None).status = APPROVED
    session.commit()
    correct_key(session, skill_session, old.item.external_id, "staff:chief", "原答案有误")
    history = outcome_history(session, second, 4)
    assert len(history) >= 3
    assert history[0].passed and history[0].skill_score == 60 and not history[0].superseded
    assert all(row.superseded for row in history[1:])
    assert history[0].supersedes_id == history[1].id
    assert "更正答案" in history[0].reason and history[0].actor == "staff:chief"
    # The corrected results (甲's skill is 80 now) are provisional until released again.
    assert passed_outcomes(session) == []
    assert [o.candidate_id for o in passed_outcomes(session, released_only=False)] == [first, second]
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "level_outcome.record")).all()
    assert session.scalar(select(LevelOutcome).where(LevelOutcome.id == history[-1].id)) is not None

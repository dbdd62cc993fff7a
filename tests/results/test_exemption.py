"""The level-5 theory exemption (理论知识免试): recorded as an exemption, never as a score."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading.seed import seed_paper_sitting, sit
from exam_server.results.models import RELEASED, Result
from exam_server.results.queries import candidate_levels
from exam_server.results.release import release_results
from exam_server.results.scoring import EXEMPTION_RULE, exam_date, score_session
from exam_server.sessions.models import ExamSession
from scoring.results import years_before

PAPER = [
    {"type": "single", "stem": f"单选 {i}（ ）", "options": ["甲", "乙", "丙", "丁"], "key": "A", "points": 1}
    for i in range(5)
]
PEOPLE = [
    ("440106199001010011", "甲考生", "南方安保集团"),
    ("440106199001010022", "乙考生", "南方安保集团"),
    ("440106199001010033", "丙考生", "南方安保集团"),
    ("440106199001010044", "丁考生", "南方安保集团"),
]


def _answers(version_ids: list[int], right: int) -> dict[int, str]:
    return {v: ("A" if i < right else "B") for i, v in enumerate(version_ids)}


def test_exemption_is_recorded_as_an_exemption_and_counts_for_the_level(session: Session) -> None:
    today = exam_date(ExamSession(starts_at=dt.datetime.now(dt.UTC)))
    three_years = years_before(today, 3)
    certs = [
        today - dt.timedelta(days=2 * 365),  # issued 2 years ago: exempt
        three_years,  # exactly 3 years before the exam: not exempt
        three_years + dt.timedelta(days=1),  # one day short of 3 years: exempt
        today - dt.timedelta(days=10 * 365),  # long ago: not exempt
    ]
    theory = seed_paper_sitting(session, PAPER, level=5, part="theory", hash_profile="low", candidates=PEOPLE,
                                guard_cert_dates=certs, code="T5", name="五级理论")
    # The first candidate chose to sit theory anyway and failed it: the exemption still decides.
    for attempt_id, right in zip(theory.attempt_ids, [1, 4, 5, 2], strict=True):
        sit(session, attempt_id, _answers(theory.version_ids, right))
    theory_session = session.get(ExamSession, theory.exam_session_id)
    report = score_session(session, theory_session, "staff")
    assert report.exempt == 2
    exemptions = session.scalars(select(Result).where(Result.exempt.is_(True)).order_by(Result.candidate_id)).all()
    assert [r.candidate_id for r in exemptions] == [theory.candidate_ids[0], theory.candidate_ids[2]]
    for r in exemptions:
        assert r.score is None and r.points is None and r.passed and r.part == "theory" and r.level == 5
        assert r.reason == EXEMPTION_RULE and r.basis["exam_date"] == today.isoformat()
    # Scoring again records nothing new.
    assert score_session(session, theory_session, "staff").exempt == 0

    skill = seed_paper_sitting(session, PAPER, level=5, part="skill", hash_profile="low", candidates=PEOPLE,
                               guard_cert_dates=certs, code="K5", name="五级技能")
    for attempt_id, right in zip(skill.attempt_ids, [4, 4, 2, 5], strict=True):
        sit(session, attempt_id, _answers(skill.version_ids, right))
    skill_session = session.get(ExamSession, skill.exam_session_id)
    assert score_session(session, skill_session, "staff").exempt == 0  # already recorded at the theory sitting
    release_results(session, theory_session.id, "staff")
    release_results(session, skill_session.id, "staff")

    outcomes = {}
    for cid in theory.candidate_ids:
        (view,) = candidate_levels(session, cid)
        outcomes[cid] = view.outcome
    first, second, third, fourth = (outcomes[c] for c in theory.candidate_ids)
    # Exempt, skill 80: passed, theory shown as exempt (its sat score of 20 is not counted).
    assert first.passed is True and first.status("theory") == "exempt" and first.status("skill") == "passed"
    assert "理论知识免试" in first.reasons
    # Exactly three years: not exempt; theory 80, skill 80.
    assert second.passed is True and second.status("theory") == "passed"
    # Exempt, but failed skill (40): the level is failed.
    assert third.passed is False and third.status("theory") == "exempt" and third.status("skill") == "failed"
    # Not exempt and failed theory (40).
    assert fourth.passed is False and fourth.status("theory") == "failed"
    assert all(r.status == RELEASED for r in session.scalars(select(Result)))


def test_levels_below_five_have_no_exemption(session: Session) -> None:
    today = dt.date.today()
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", candidates=PEOPLE[:1],
                                guard_cert_dates=[today - dt.timedelta(days=30)], code="T4", name="四级理论")
    sit(session, seeded.attempt_ids[0], _answers(seeded.version_ids, 3))
    report = score_session(session, session.get(ExamSession, seeded.exam_session_id), "staff")
    assert report.exempt == 0
    assert session.scalar(select(Result).where(Result.exempt.is_(True))) is None


def test_releasing_a_level_five_sitting_records_missing_exemptions(session: Session) -> None:
    today = dt.date.today()
    seeded = seed_paper_sitting(session, PAPER, level=5, part="theory", hash_profile="low", candidates=PEOPLE[:2],
                                guard_cert_dates=[today - dt.timedelta(days=100), dt.date(2000, 1, 1)], code="T5R",
                                name="五级理论")
    for attempt_id in seeded.attempt_ids:
        sit(session, attempt_id, _answers(seeded.version_ids, 3))  # scored at submit, no session scoring
    assert session.scalar(select(Result).where(Result.exempt.is_(True))) is None
    assert release_results(session, seeded.exam_session_id, "staff") == 3
    (exemption,) = session.scalars(select(Result).where(Result.exempt.is_(True))).all()
    assert exemption.candidate_id == seeded.candidate_ids[0] and exemption.status == RELEASED

"""The level-5 theory exemption (理论知识免试): decided when candidates are scheduled, recorded as an exemption
(never a score) by the one results path, the same in a preview and in the real run; never found by a re-score."""

from __future__ import annotations

import datetime as dt

from conftest import csrf_token_from
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading.seed import SeededWritten, seed_paper_sitting, sit
from exam_server.results.corrections import correct_key
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import current_outcome
from exam_server.results.queries import candidate_levels
from exam_server.results.release import release_results
from exam_server.results.scoring import EXEMPTION_RULE, score_session
from exam_server.sessions.models import ExamSession, SessionExemption
from exam_server.sessions.scheduling import Applicant, schedule
from item_bank.models import APPROVED, ItemVersion
from item_bank.versions import ItemDraft, revise_item

PAPER = [
    {"type": "single", "stem": f"单选 {i}（ ）", "options": ["甲", "乙", "丙", "丁"], "key": "A", "points": 1}
    for i in range(6)
]
RECENT = dt.date(2025, 11, 1)  # a 保安员证 issued 2025-11-01: less than 3 years before the sitting
SITTERS = [
    ("440106199001010011", "甲考生", "南方安保集团"),  # sits and fails (2 of 6: 33.3)
    ("440106199001010022", "乙考生", "南方安保集团"),  # sits and passes
    ("440106199001010033", "丙考生", "南方安保集团"),  # scheduled, never starts: 缺考
]
EXEMPT = [
    Applicant(id_number="440106199001010044", name="丁考生", guard_cert_no="粤公保证字010044",
              guard_cert_date=RECENT, theory_exemption="保安员证发证不满 3 年（2025-11-01 发证），理论知识免试"),
    Applicant(id_number="440106199001010055", name="戊考生", guard_cert_no="粤公保证字010055",
              guard_cert_date=RECENT, theory_exemption="保安员证发证不满 3 年（2025-11-01 发证），理论知识免试"),
]


def _answers(version_ids: list[int], right: int) -> dict[int, str]:
    return {v: ("A" if i < right else "B") for i, v in enumerate(version_ids)}


def _level5_theory(session: Session, code: str, n_sitters: int = 3) -> tuple[SeededWritten, ExamSession]:
    # Every sitter's 保安员证 is recent too: only the scheduling decision may exempt anyone.
    seeded = seed_paper_sitting(session, PAPER, level=5, part="theory", hash_profile="low",
                                candidates=SITTERS[:n_sitters], guard_cert_dates=[RECENT] * n_sitters, code=code,
                                name="五级理论")
    exam_session = session.get(ExamSession, seeded.exam_session_id)
    report = schedule(session, exam_session, EXEMPT, "staff", secret=current_app.config["SECRET_KEY"])
    assert len(report.exempt) == 2 and report.scheduled == 0
    return seeded, exam_session


def _corrected(session: Session, version_id: int, key: str) -> ItemVersion:
    old = session.get(ItemVersion, version_id)
    draft = ItemDraft.from_version(old)
    draft.key = key
    new = revise_item(session, old.item, draft, actor="author", author_id=None)
    new.status = APPROVED
    session.commit()
    return new


def test_a_correction_preview_equals_its_real_run_and_exempts_only_whom_scheduling_exempted(
    app: Flask, session: Session
) -> None:
    seeded, exam_session = _level5_theory(session, "T5P")
    first, second, absent = seeded.candidate_ids
    sit(session, seeded.attempt_ids[0], _answers(seeded.version_ids, 2))  # 33.3: 不合格
    sit(session, seeded.attempt_ids[1], _answers(seeded.version_ids, 5))
    # Scoring at submit wrote both sat results; nobody is exempt until the sitting is scored or released.
    item = session.get(ItemVersion, seeded.version_ids[5]).item.external_id
    _corrected(session, seeded.version_ids[5], "B")

    preview = correct_key(session, exam_session, item, "staff", "原答案有误", dry_run=True)
    assert session.scalar(select(Result).where(Result.exempt.is_(True))) is None  # the preview wrote nothing
    real = correct_key(session, exam_session, item, "staff", "原答案有误")
    assert preview.outcome() == real.outcome()
    assert preview.exempt == real.exempt == 2
    assert sorted(name for name, _ in real.exempted) == ["丁考生", "戊考生"]
    assert preview.summary().replace("（试算，未保存）", "") == real.summary()

    exempt_rows = session.scalars(select(Result).where(Result.exempt.is_(True))).all()
    assert sorted(r.candidate.name for r in exempt_rows) == ["丁考生", "戊考生"]
    for r in exempt_rows:
        assert r.score is None and r.passed and r.reason == EXEMPTION_RULE
        assert r.basis["session_exemption_id"] and "2025-11-01" in r.basis["rule"]
    # The failed sitter stays failed (the correction moved 甲 from 2 to 3 of 6: 50.0), never 免试;
    # the one who never started has no result at all: 缺考, not 免试.
    failed = session.scalar(select(Result).where(Result.candidate_id == first, Result.superseded.is_(False)))
    assert not failed.exempt and failed.score == 50.0 and not failed.passed
    assert session.scalar(select(Result).where(Result.candidate_id == absent)) is None
    assert current_outcome(session, first, 5).theory_exempt is False
    assert current_outcome(session, second, 5).theory_score is not None
    # Scoring again finds nothing new: the preview of it says the same.
    again = score_session(session, exam_session, "staff", dry_run=True)
    assert (again.exempt, again.written) == (0, 0)
    assert score_session(session, exam_session, "staff").outcome() == again.outcome()


def test_the_sitting_page_shows_the_exemptions_before_the_sitting(app: Flask, session: Session) -> None:
    _seeded, exam_session = _level5_theory(session, "T5S")
    staff = app.test_client()
    token = csrf_token_from(staff.get("/staff/login").get_data(as_text=True))
    assert staff.post("/staff/login", data={"username": "staff", "password": "pw-staff",
                                            "csrf_token": token}).status_code == 302
    page = staff.get(f"/centre/sittings/{exam_session.id}").get_data(as_text=True)
    assert "免考理论知识（2）" in page and "丁考生" in page and "戊考生" in page and "2025-11-01" in page
    assert session.scalar(select(Result)) is None  # shown before anything was scored


def test_exemption_counts_for_the_level_and_is_released_with_the_sitting(session: Session) -> None:
    seeded, theory = _level5_theory(session, "T5R", n_sitters=2)
    for attempt_id, right in zip(seeded.attempt_ids, [6, 1], strict=True):
        sit(session, attempt_id, _answers(seeded.version_ids, right))
    assert session.scalar(select(Result).where(Result.exempt.is_(True))) is None
    report = release_results(session, theory.id, "staff")
    # Two sat results and the two exemptions the scheduling decided, counted from the rows released.
    assert report.released == 4
    assert session.scalar(select(Result).where(Result.status != RELEASED)) is None
    exempt = session.scalars(select(SessionExemption)).all()
    for decision in exempt:
        (view,) = candidate_levels(session, decision.candidate_id)
        assert view.outcome.status("theory") == "exempt"
        stored = current_outcome(session, decision.candidate_id, 5)
        assert stored.theory_exempt and stored.theory_score is None and not stored.passed  # skill still missing
        assert stored.released is False


def test_levels_below_five_have_no_exemption(session: Session) -> None:
    today = dt.date.today()
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", candidates=SITTERS[:1],
                                guard_cert_dates=[today - dt.timedelta(days=30)], code="T4", name="四级理论")
    sit(session, seeded.attempt_ids[0], _answers(seeded.version_ids, 3))
    report = score_session(session, session.get(ExamSession, seeded.exam_session_id), "staff")
    assert report.exempt == 0
    assert session.scalar(select(Result).where(Result.exempt.is_(True))) is None

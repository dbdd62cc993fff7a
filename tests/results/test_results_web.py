"""The centre's result screens: score a sitting, preview and apply a key correction, release, decide a review;
and the chief grader's assignment and reassignment forms."""

from __future__ import annotations

from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading.models import GradingAssignment
from exam_server.grading.seed import CANDIDATES, seed_paper_sitting, seed_written_sitting, sit, sit_written
from exam_server.results.models import KeyCorrection, Result, ReviewRequest
from exam_server.results.review_requests import request_review
from item_bank.models import APPROVED, ItemVersion
from item_bank.versions import ItemDraft, revise_item

PAPER = [{"type": "single", "stem": f"单选 {i}（ ）", "options": ["甲", "乙", "丙"], "key": "A", "points": 1}
         for i in range(4)]



def login(client: FlaskClient, username: str) -> None:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/staff/login", data={"username": username, "password": "pw-staff",
                                             "csrf_token": token}).status_code == 302


def test_score_correct_release_and_review_through_the_screens(app: Flask, session: Session) -> None:
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="WEB4",
                                name="四级理论 网页", candidates=CANDIDATES[:2])
    sid = seeded.exam_session_id
    sit(session, seeded.attempt_ids[0], {v: "A" for v in seeded.version_ids})  # 100
    sit(session, seeded.attempt_ids[1], {v: "B" for v in seeded.version_ids})  # 0
    staff = app.test_client()
    login(staff, "staff")
    page = staff.get(f"/results/sessions/{sid}").get_data(as_text=True)
    assert "100.0" in page and "0.0" in page and "待发布" in page
    token = csrf_token_from(page)
    scored = staff.post(f"/results/sessions/{sid}/score", data={"csrf_token": token}, follow_redirects=True)
    assert "新成绩 0 条（成绩变化 0 条，首次记分 0 条），未变 2 条" in scored.get_data(as_text=True)

    old = session.get(ItemVersion, seeded.version_ids[0])
    draft = ItemDraft.from_version(old)
    draft.key = "B"
    new = revise_item(session, old.item, draft, actor="author", author_id=None)
    new.status = APPROVED
    session.commit()
    form = {"csrf_token": token, "item": old.item.external_id, "new_version": "", "reason": "答案应为 B"}
    preview = staff.post(f"/results/sessions/{sid}/correct-key", data=form).get_data(as_text=True)
    assert "试算" in preview and "100.0" in preview and "75.0" in preview and "确认更正" in preview
    assert session.scalar(select(KeyCorrection)) is None
    applied = staff.post(f"/results/sessions/{sid}/correct-key", data={**form, "apply": "1"}).get_data(as_text=True)
    assert "已更正" in applied and "25.0" in applied
    assert session.scalar(select(KeyCorrection)).reason == "答案应为 B"
    bad = staff.post(f"/results/sessions/{sid}/correct-key", data={**form, "item": "NOPE"}, follow_redirects=True)
    assert "没有编号为 NOPE 的试题" in bad.get_data(as_text=True)

    released = staff.post(f"/results/sessions/{sid}/release", data={"csrf_token": token}, follow_redirects=True)
    assert "已发布 2 条成绩" in released.get_data(as_text=True)
    result = session.scalar(select(Result).where(Result.candidate_id == seeded.candidate_ids[0],
                                                 Result.superseded.is_(False)))
    history = staff.get(f"/results/{result.id}/history").get_data(as_text=True)
    assert "75.0" in history and "100.0" in history and "答案应为 B" in history and "已被取代" in history

    review = request_review(session, seeded.candidate_ids[0], result.id, "第一题答案有争议", "candidate:x")
    reviews = staff.get("/results/reviews").get_data(as_text=True)
    assert "第一题答案有争议" in reviews
    done = staff.post(f"/results/reviews/{review.id}", data={"csrf_token": token, "action": "rescore", "note": ""},
                      follow_redirects=True)
    assert "已完成" in done.get_data(as_text=True)
    session.expire_all()
    assert session.get(ReviewRequest, review.id).status == "done"

    candidate = app.test_client()
    number, password, _ = seeded.logins[0]
    ctoken = csrf_token_from(candidate.get("/login").get_data(as_text=True))
    candidate.post("/login", data={"ticket": number, "password": password, "csrf_token": ctoken})
    assert staff.get("/results/mine").status_code in (302, 401)
    assert candidate.get(f"/results/sessions/{sid}").status_code in (302, 401, 403)
    mine = candidate.get("/results/mine").get_data(as_text=True)
    assert "75.0" in mine and "中级保安员（四级）" in mine


def test_assign_and_reassign_from_the_monitor(app: Flask, session: Session) -> None:
    seeded = seed_written_sitting(session, hash_profile="low", n_candidates=1)
    sit_written(session, seeded.attempt_ids[0])
    sid = seeded.exam_session_id
    chief = app.test_client()
    login(chief, "chief")
    page = chief.get(f"/grading/monitor/{sid}").get_data(as_text=True)
    assert 'id="pending-count">3<' in page
    token = csrf_token_from(page)
    ids = [str(seeded.staff["grader1"]), str(seeded.staff["grader2"])]
    one = chief.post(f"/grading/monitor/{sid}/assign", data={"csrf_token": token, "grader": ids[:1]},
                     follow_redirects=True)
    assert "至少需要选择两名阅卷员" in one.get_data(as_text=True)
    done = chief.post(f"/grading/monitor/{sid}/assign", data={"csrf_token": token, "grader": ids},
                      follow_redirects=True)
    assert "已分配 3 个任务" in done.get_data(as_text=True)
    moved = chief.post(f"/grading/monitor/{sid}/reassign",
                       data={"csrf_token": token, "from_grader": ids[0], "to_grader": str(seeded.staff["grader3"]),
                             "reason": "请假"}, follow_redirects=True)
    assert "已改派 3 个任务" in moved.get_data(as_text=True)
    open_graders = {a.grader_id for a in session.scalars(select(GradingAssignment).where(
        GradingAssignment.status == "open"))}
    assert open_graders == {seeded.staff["grader2"], seeded.staff["grader3"]}
    grader = app.test_client()
    login(grader, "grader1")
    assert grader.get(f"/grading/monitor/{sid}").status_code == 403
    assert "没有待评阅的任务" in grader.get("/grading/").get_data(as_text=True)

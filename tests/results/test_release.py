"""Release that cannot be premature: refused (and the refusal lists them) while an attempt of the sitting is open or
a grading task unfinished; a partial release names its candidates and needs a reason; the count reported is the
number of rows released."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.grading.models import GradingTask
from exam_server.grading.seed import CANDIDATES, seed_paper_sitting, seed_written_sitting, sit, sit_written
from exam_server.jobs.models import Job
from exam_server.results.errors import ResultsError
from exam_server.results.models import RELEASED, Result
from exam_server.results.release import release_results
from exam_server.sessions.models import ExamSession

PAPER = [{"type": "judge", "stem": f"判断 {i}", "options": ["正确", "错误"], "key": "A", "points": 1}
         for i in range(4)]


def _released(session: Session, session_id: int) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Result).where(
        Result.session_id == session_id, Result.status == RELEASED)) or 0


def _login(client: FlaskClient, username: str = "staff") -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/staff/login", data={"username": username, "password": "pw-staff",
                                             "csrf_token": token}).status_code == 302
    return token


def test_release_is_refused_while_candidates_may_still_sit_and_lists_them(app: Flask, session: Session) -> None:
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="RL4",
                                candidates=CANDIDATES[:4])
    sid = seeded.exam_session_id
    for attempt_id in seeded.attempt_ids[:2]:
        sit(session, attempt_id, {v: "A" for v in seeded.version_ids})
    numbers = [number for number, _pw, _name in seeded.logins]
    with pytest.raises(ResultsError) as refused:
        release_results(session, sid, "staff")
    message = refused.value.message
    assert f"{numbers[2]} {CANDIDATES[2][1]}（已签到未开考）" in message and numbers[3] in message
    assert numbers[0] not in message
    assert _released(session, sid) == 0

    # The page lists them and the button is off; a POST is refused with the list, and no job is made.
    staff = app.test_client()
    token = _login(staff)
    page = staff.get(f"/results/sessions/{sid}").get_data(as_text=True)
    assert 'id="release-blockers"' in page and numbers[2] in page and "已签到未开考" in page
    jobs = session.scalar(select(func.count(Job.id)))
    refused_page = staff.post(f"/results/sessions/{sid}/release", data={"csrf_token": token},
                              follow_redirects=True).get_data(as_text=True)
    assert "还不能发布成绩" in refused_page and numbers[3] in refused_page
    assert session.scalar(select(func.count(Job.id))) == jobs
    assert _released(session, sid) == 0

    # Once the sitting is over, who never started is absent (缺考): the release goes ahead.
    exam_session = session.get(ExamSession, sid)
    exam_session.starts_at -= dt.timedelta(hours=3)
    session.commit()
    report = release_results(session, sid, "staff")
    assert report.released == 2 == _released(session, sid)
    assert "已发布 2 条成绩（2 名考生）" in report.lines()[0]
    page = staff.get(f"/results/sessions/{sid}").get_data(as_text=True)
    assert page.count("缺考") == 2 and 'id="released-count">2<' in page and 'id="release-blockers"' not in page


def test_release_is_refused_while_grading_tasks_are_unfinished_and_lists_them(session: Session) -> None:
    seeded = seed_written_sitting(session, hash_profile="low", n_candidates=2, code="RLW")
    for attempt_id in seeded.attempt_ids:
        sit_written(session, attempt_id)
    tasks = session.scalars(select(GradingTask).where(GradingTask.session_id == seeded.exam_session_id)).all()
    assert tasks
    with pytest.raises(ResultsError) as refused:
        release_results(session, seeded.exam_session_id, "staff")
    assert f"未完成的阅卷任务 {len(tasks)} 个" in refused.value.message
    assert tasks[0].code in refused.value.message and "待分配" in refused.value.message
    assert len(refused.value.details["tasks"]) == len(tasks)
    assert _released(session, seeded.exam_session_id) == 0


def test_a_partial_release_names_its_candidates_needs_a_reason_and_counts_what_it_released(
    app: Flask, session: Session
) -> None:
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="RLP",
                                candidates=CANDIDATES[:3])
    sid = seeded.exam_session_id
    for attempt_id in seeded.attempt_ids[:2]:
        sit(session, attempt_id, {v: "A" for v in seeded.version_ids})
    numbers = [number for number, _pw, _name in seeded.logins]
    with pytest.raises(ResultsError, match="必须填写原因"):
        release_results(session, sid, "staff", tickets=[numbers[0]], reason=" ")
    with pytest.raises(ResultsError, match="不属于考试场次"):
        release_results(session, sid, "staff", tickets=["NOPE"], reason="先发布")
    # The third has not started: naming them is refused, naming the two who finished is not.
    with pytest.raises(ResultsError, match=numbers[2]):
        release_results(session, sid, "staff", tickets=[numbers[1], numbers[2]], reason="先发布")
    report = release_results(session, sid, "staff", tickets=numbers[:2], reason="两人已交卷，先行发布")
    assert report.partial and report.released == 2 == _released(session, sid)
    assert [number for number, _ in report.candidates] == numbers[:2]
    assert CANDIDATES[0][1] in report.lines()[1] and "两人已交卷，先行发布" in report.lines()[0]
    assert session.get(ExamSession, sid).results_released_at is None  # the sitting as a whole is not released

    # Through the screen: the reason is required, and the job reports the rows it released.
    staff = app.test_client()
    token = _login(staff)
    sit(session, seeded.attempt_ids[2], {v: "B" for v in seeded.version_ids})
    no_reason = staff.post(f"/results/sessions/{sid}/release",
                           data={"csrf_token": token, "partial": "1", "tickets": numbers[2], "reason": ""},
                           follow_redirects=True).get_data(as_text=True)
    assert "部分发布成绩必须填写原因" in no_reason
    done = staff.post(f"/results/sessions/{sid}/release",
                      data={"csrf_token": token, "partial": "1", "tickets": numbers[2], "reason": "补发"},
                      follow_redirects=True).get_data(as_text=True)
    assert "已发布 1 条成绩（1 名考生）" in done and numbers[2] in done
    assert _released(session, sid) == 3
    page = staff.get(f"/results/sessions/{sid}").get_data(as_text=True)
    assert 'id="released-count">3<' in page

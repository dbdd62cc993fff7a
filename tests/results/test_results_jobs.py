"""Scoring a sitting and releasing its results are jobs (results.score, results.release) run by the worker:
the route submits and shows the job; only centre staff may start them or read them."""

from __future__ import annotations

from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from job_routes import job_of, refused_job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.grading.seed import seed_paper_sitting, sit
from exam_server.jobs.models import Job
from exam_server.results.models import RELEASED, Result

PAPER = [{"type": "single", "stem": f"单选 {i}（ ）", "options": ["甲", "乙", "丙"], "key": "A", "points": 1}
         for i in range(4)]


def login(client: FlaskClient, username: str) -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/staff/login", data={"username": username, "password": "pw-staff",
                                             "csrf_token": token}).status_code == 302
    return token


def test_scoring_and_releasing_a_sitting_are_jobs_for_centre_staff(app: Flask, session: Session) -> None:
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="JOB4",
                                name="四级理论 后台任务")
    sid = seeded.exam_session_id
    sit(session, seeded.attempt_ids[0], {v: "A" for v in seeded.version_ids})
    sit(session, seeded.attempt_ids[1], {v: "B" for v in seeded.version_ids})
    session.execute(Result.__table__.delete())  # scoring writes both results anew
    session.commit()
    staff = app.test_client()
    token = login(staff, "staff")

    scored = job_of(session, staff.post(f"/results/sessions/{sid}/score", data={"csrf_token": token}),
                    "results.score")
    assert scored.result["written"] == 2 and scored.created_by.endswith("staff")
    assert "新成绩 2 条" in scored.result["lines"][0]
    page = staff.get(f"/jobs/{scored.id}").get_data(as_text=True)
    assert "新成绩 2 条" in page and f"/results/sessions/{sid}" in page  # the summary and the way back

    released = job_of(session, staff.post(f"/results/sessions/{sid}/release", data={"csrf_token": token}),
                      "results.release")
    assert released.result["released"] == 2
    statuses = session.scalars(select(Result.status).where(Result.session_id == sid,
                                                           Result.superseded.is_(False))).all()
    session.expire_all()
    assert sorted(statuses) == [RELEASED, RELEASED]

    before = session.scalar(select(func.count(Job.id)))
    chief = app.test_client()
    chief_token = login(chief, "chief")
    candidate = app.test_client()
    number, password, _ = seeded.logins[0]
    ctoken = csrf_token_from(candidate.get("/login").get_data(as_text=True))
    candidate.post("/login", data={"ticket": number, "password": password, "csrf_token": ctoken})
    for path in (f"/results/sessions/{sid}/score", f"/results/sessions/{sid}/release"):
        assert chief.post(path, data={"csrf_token": chief_token}).status_code == 403
        assert candidate.post(path, data={"csrf_token": ctoken}).status_code in (302, 401, 403)
    assert session.scalar(select(func.count(Job.id))) == before
    for job in (scored, released):
        refused_job(chief, job)
        refused_job(candidate, job)

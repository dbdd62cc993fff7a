"""Scoring a sitting and releasing its results are jobs (results.score, results.release) run by the worker:
the route submits and shows the job; only centre staff may start them or read them."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from job_routes import job_of, refused_job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.grading.seed import CANDIDATES, seed_paper_sitting, sit
from exam_server.jobs.models import Job
from exam_server.results import scoring
from exam_server.results.models import RELEASED, LevelOutcome, Result

PAPER = [{"type": "single", "stem": f"单选 {i}（ ）", "options": ["甲", "乙", "丙"], "key": "A", "points": 1}
         for i in range(4)]


def login(client: FlaskClient, username: str) -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/staff/login", data={"username": username, "password": "pw-staff",
                                             "csrf_token": token}).status_code == 302
    return token


def sat_sitting(session: Session) -> Any:
    """A sitting of two candidates who have submitted, with no results yet (scoring writes both anew)."""
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="JOB4",
                                name="四级理论 后台任务", candidates=CANDIDATES[:2])
    sit(session, seeded.attempt_ids[0], {v: "A" for v in seeded.version_ids})
    sit(session, seeded.attempt_ids[1], {v: "B" for v in seeded.version_ids})
    # Level outcomes point at the results they count: they go too.
    session.execute(LevelOutcome.__table__.delete())
    session.execute(Result.__table__.delete())
    session.commit()
    return seeded


def test_scoring_and_releasing_a_sitting_are_jobs_for_centre_staff(app: Flask, session: Session) -> None:
    seeded = sat_sitting(session)
    sid = seeded.exam_session_id
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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's one write lock for the whole database
def test_scoring_reads_holding_no_lock_and_scores_again_holding_it_if_a_write_came_between(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = sat_sitting(session)
    path = session.get_bind().url.database
    writes = []
    real_write = scoring._write

    def a_save_elsewhere_first(*args: Any, **kwargs: Any) -> None:
        if not writes:
            # Another connection (a candidate's save in another sitting) commits while scoring computes. Had
            # scoring held the write lock since it began, this would wait for it and time out.
            other = sqlite3.connect(path, timeout=0.5, isolation_level=None)
            try:
                other.execute("CREATE TABLE IF NOT EXISTS elsewhere (x INTEGER)")
                other.execute("INSERT INTO elsewhere VALUES (1)")
            finally:
                other.close()
        writes.append(1)
        real_write(*args, **kwargs)

    monkeypatch.setattr(scoring, "_write", a_save_elsewhere_first)
    staff = app.test_client()
    token = login(staff, "staff")
    job = job_of(session, staff.post(f"/results/sessions/{seeded.exam_session_id}/score",
                                     data={"csrf_token": token}), "results.score")
    # The first pass's write met a newer database and was refused; the second held the lock and wrote.
    assert len(writes) == 2
    assert job.result["written"] == 2
    assert session.scalar(select(func.count(Result.id)).where(Result.session_id == seeded.exam_session_id)) == 2

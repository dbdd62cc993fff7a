"""A candidate's score report (成绩单, PDF) from the stored level outcome and released results only: the parts,
the pass line, the exemption and its reason, and how to ask for a review (复核). The candidate downloads their own
once released; centre staff any of their centre's candidates, and a sitting's batch as a job; others are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.jobs import job_queue
from exam_server.jobs.models import Job
from exam_server.organisations import operations as org_ops
from exam_server.results.models import PROVISIONAL, RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.sessions.models import Ticket
from item_bank.db import utcnow

RULE = "持保安员证满一年，理论知识免试"


def text_of(data: bytes, tmp_path: Path, name: str = "r.pdf") -> str:
    assert data.startswith(b"%PDF")
    path = tmp_path / name
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def record(session: Session, sid: int, cid: int, *, theory: float | None, skill: float, status: str = RELEASED,
           ) -> None:
    now = utcnow() if status == RELEASED else None
    if theory is None:
        session.add(Result(candidate_id=cid, session_id=sid, level=5, part="theory", score=None, passed=True,
                           exempt=True, status=status, released_at=now, reason="免试", basis={"rule": RULE}))
    else:
        session.add(Result(candidate_id=cid, session_id=sid, level=5, part="theory", score=theory, points=theory,
                           max_points=100.0, passed=theory >= 60, status=status, released_at=now, reason="测试"))
    session.add(Result(candidate_id=cid, session_id=sid, level=5, part="skill", score=skill, points=skill,
                       max_points=100.0, passed=skill >= 60, status=status, released_at=now, reason="测试"))
    session.flush()
    refresh_outcomes(session, [cid], 5, "test", "测试成绩")
    session.commit()


def test_score_reports_show_parts_pass_line_exemption_and_review(app: Flask, session: Session, sitting,
                                                                 tmp_path: Path) -> None:
    sid = sitting.seeded.exam_session_id
    tickets = list(session.scalars(select(Ticket).where(Ticket.session_id == sid).order_by(Ticket.id)))
    first, second, third = (t.candidate_id for t in tickets)
    record(session, sid, first, theory=82, skill=55)
    record(session, sid, second, theory=None, skill=71.5)
    record(session, sid, third, theory=90, skill=90, status=PROVISIONAL)

    own = app.test_client()
    sitting.login(own, 0)
    assert "results/mine/report/5.pdf" in own.get("/results/mine").get_data(as_text=True)
    text = text_of(own.get("/results/mine/report/5.pdf").data, tmp_path)
    for words in ("理论知识", "82 分", "操作技能", "55 分", "不合格", "合格线", "60 分", "复核", "我的成绩",
                  tickets[0].number, "等级鉴定结果：不合格"):
        assert words in text, words
    assert tickets[0].candidate.id_number not in text and tickets[0].candidate.name in text
    # Another candidate's report is not reachable from this login: the route only knows the candidate's own.
    assert own.get(f"/results/candidates/{second}/report/5.pdf").status_code in (302, 403)

    exempt = app.test_client()
    sitting.login(exempt, 1)
    text = text_of(exempt.get("/results/mine/report/5.pdf").data, tmp_path)
    assert "免试" in text and RULE in text and "71.5 分" in text and "等级鉴定结果：合格" in text

    unreleased = app.test_client()
    sitting.login(unreleased, 2)
    refused = unreleased.get("/results/mine/report/5.pdf")
    assert refused.status_code == 404 and not refused.data.startswith(b"%PDF")
    assert exempt.get("/results/mine/report/4.pdf").status_code == 404  # no outcome at that level

    staff = app.test_client()
    token = sitting.staff_login(staff)
    text = text_of(staff.get(f"/results/candidates/{second}/report/5.pdf").data, tmp_path)
    assert RULE in text and tickets[1].number in text
    assert staff.get(f"/results/candidates/{third}/report/5.pdf").status_code == 404  # not released
    for role in ("proctor", "grader1", "unit"):
        other = app.test_client()
        sitting.staff_login(other, role)
        assert other.get(f"/results/candidates/{second}/report/5.pdf").status_code in (302, 403)
        assert other.post(f"/results/sessions/{sid}/score-reports").status_code in (302, 400, 403)
    assert app.test_client().get("/results/mine/report/5.pdf").status_code in (302, 401)
    # Another centre's staff: the candidate sat none of their centre's sittings.
    elsewhere = org_ops.create_centre(session, name="深圳鉴定中心", city="深圳", code="CB", actor="test")
    session.add(User(username="staff_b", display_name="staff_b", roles=["centre_staff"],
                     organisation_id=elsewhere.id, password_hash=hash_password("pw-staff", "low")))
    session.commit()
    other_centre = app.test_client()
    sitting.staff_login(other_centre, "staff_b")
    assert other_centre.get(f"/results/candidates/{second}/report/5.pdf").status_code == 403

    assert staff.post(f"/results/sessions/{sid}/score-reports", data={"csrf_token": token}).status_code == 302
    job = session.scalar(select(Job).where(Job.kind == "results.score_reports"))
    assert job is not None and job.result["count"] == 2, job.result
    assert job.result_file is not None
    batch = text_of((job_queue(app).jobs_dir / str(job.id) / job.result_file).read_bytes(), tmp_path, "b.pdf")
    assert tickets[0].number in batch and tickets[1].number in batch and tickets[2].number not in batch

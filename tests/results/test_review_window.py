"""The review (复核) window: a result may be reviewed only within review_rules.json's days after its release
(Beijing dates, the last day included); after it the request is refused in Chinese, and the candidate's page and
the score report name the last day."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.results.errors import ResultsError
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.results.review_requests import review_deadline, review_window_days
from exam_server.sessions.models import Ticket
from item_bank.db import utcnow

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def text_of(data: bytes, tmp_path: Path) -> str:
    assert data.startswith(b"%PDF")
    (tmp_path / "r.pdf").write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout


def record(session: Session, sid: int, cid: int, scores: dict[str, float]) -> dict[str, Result]:
    rows = {part: Result(candidate_id=cid, session_id=sid, level=5, part=part, score=score, points=score,
                         max_points=100.0, passed=score >= 60, status=RELEASED, released_at=utcnow(), reason="测试")
            for part, score in scores.items()}
    session.add_all(rows.values())
    session.flush()
    refresh_outcomes(session, [cid], 5, "test", "测试成绩")
    session.commit()
    return rows


def test_deadline_counts_beijing_days_from_release() -> None:
    days = review_window_days()
    assert days == 15  # the rules' figure (review_rules.json)
    # 20:00 UTC is 04:00 the next day in Beijing: the window counts from that day.
    released = dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC)
    assert review_deadline(released) == dt.date(2026, 3, 2) + dt.timedelta(days=days)
    assert review_deadline(None) is None


@SQLITE
def test_request_refused_after_the_window_and_the_day_shown(app: Flask, session: Session, sitting,
                                                            tmp_path: Path) -> None:
    from exam_server.results.review_requests import request_review

    sid = sitting.seeded.exam_session_id
    ticket = session.scalars(select(Ticket).where(Ticket.session_id == sid).order_by(Ticket.id)).first()
    cid = ticket.candidate_id
    rows = record(session, sid, cid, {"theory": 58, "skill": 70})
    theory, skill = rows["theory"], rows["skill"]
    days = review_window_days()
    # The last day of the window is still open; the day after it is not.
    theory.released_at = utcnow() - dt.timedelta(days=days)
    skill.released_at = utcnow() - dt.timedelta(days=days + 1)
    session.commit()
    last_day = review_deadline(theory.released_at)
    expired_day = review_deadline(skill.released_at)

    client = app.test_client()
    token = sitting.login(client, 0)
    page = client.get("/results/mine").get_data(as_text=True)
    assert f"可于 {last_day:%Y-%m-%d} 前（含当日）申请复核" in page
    assert f"已超过复核申请期限（截止 {expired_day:%Y-%m-%d}）" in page
    assert page.count('name="result_id"') == 1  # a form for the part still open only
    text = text_of(client.get("/results/mine/report/5.pdf").data, tmp_path)
    assert f"成绩发布之日起 {days} 日内" in text
    assert f"{last_day:%Y年%m月%d日}" in text and f"{expired_day:%Y年%m月%d日}" in text

    with pytest.raises(ResultsError, match="已超过复核申请期限") as refused:
        request_review(session, cid, skill.id, "请核分", "candidate:x")
    assert f"{expired_day:%Y年%m月%d日}" in refused.value.message
    session.rollback()
    response = client.post("/results/mine/review", data={"result_id": skill.id, "reason": "请核分",
                                                         "csrf_token": token}, follow_redirects=True)
    assert "已超过复核申请期限" in response.get_data(as_text=True)
    assert request_review(session, cid, theory.id, "请核分", "candidate:x").id

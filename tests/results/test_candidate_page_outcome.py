"""The candidate's results page shows the STORED level outcome (results/outcomes.py), never one computed on
view, and nothing of a counted result that is not released yet."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.results.models import PROVISIONAL, RELEASED, Result
from exam_server.results.outcomes import current_outcome, refresh_outcomes
from exam_server.sessions.models import Ticket
from item_bank.db import utcnow


def _result(sid: int, cid: int, part: str, score: float, status: str = RELEASED, **extra: object) -> Result:
    return Result(candidate_id=cid, session_id=sid, level=5, part=part, score=score, points=score, max_points=100.0,
                  passed=score >= 60, status=status, released_at=utcnow() if status == RELEASED else None,
                  reason="测试", **extra)


def _outcome_text(page: str) -> str:
    match = re.search(r'id="outcome-5">(.*?)</p>', page, re.S)
    assert match, page
    return match.group(1).strip()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_page_reads_the_stored_outcome(app: Flask, session: Session, sitting) -> None:
    sid = sitting.seeded.exam_session_id
    cid = session.scalars(select(Ticket.candidate_id).where(Ticket.session_id == sid).order_by(Ticket.id)).first()
    theory, skill = _result(sid, cid, "theory", 80), _result(sid, cid, "skill", 70)
    session.add_all([theory, skill])
    session.commit()
    client = app.test_client()
    sitting.login(client, 0)
    # Released results with no stored outcome yet: the page does not make one up.
    assert "还没有发布的成绩" in client.get("/results/mine").get_data(as_text=True)

    refresh_outcomes(session, [cid], 5, "test", "测试")
    session.commit()
    assert _outcome_text(client.get("/results/mine").get_data(as_text=True)) == "合格"

    # A re-score not released yet: the stored outcome says failed, the candidate sees the part as pending.
    skill.superseded = True
    session.add(_result(sid, cid, "skill", 40, status=PROVISIONAL, supersedes_id=skill.id))
    session.flush()
    refresh_outcomes(session, [cid], 5, "test", "重新评分")
    session.commit()
    assert current_outcome(session, cid, 5).state == "failed"
    page = client.get("/results/mine").get_data(as_text=True)
    assert _outcome_text(page) == "尚有科目未出成绩"
    assert "40.0" not in page and "70.0" not in page and "80.0" in page

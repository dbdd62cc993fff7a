"""A level-5 sitting built the real way (import, blueprint, assembly, lock, tickets, attempts) is sat,
scored with `examctl score-session`, released with `examctl release-results`, and read by its candidates."""

from __future__ import annotations

from conftest import Sitting, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading.seed import sit
from exam_server.results.models import Result
from exam_server.sessions.models import ExamSession
from item_bank.models import ItemVersion


def test_level_five_scored_and_released_end_to_end(
    app: Flask, session: Session, client: FlaskClient, sitting: Sitting
) -> None:
    from exam_server.delivery.models import Attempt

    exam_session = session.get(ExamSession, sitting.seeded.exam_session_id)
    for index, attempt_id in enumerate(sitting.attempt_ids):
        attempt = session.get(Attempt, attempt_id)
        keys = {v: session.get(ItemVersion, v).key for v in attempt.item_order}
        # Candidate 0 answers everything right, candidate 1 the first half, candidate 2 nothing.
        right = {0: len(keys), 1: len(keys) // 2, 2: 0}[index]
        sit(session, attempt_id, dict(list(keys.items())[:right]))

    runner = app.test_cli_runner()
    scored = runner.invoke(args=["score-session", exam_session.code])
    assert scored.exit_code == 0, scored.output
    # The demo's 保安员证 are < 3 years old, but these three were scheduled to sit theory: no one is exempt
    # unless the scheduling said so (a re-score never finds an exemption).
    assert "作答记录 3 份" in scored.output and "新记免试 0 人" in scored.output
    assert runner.invoke(args=["score-session", exam_session.code]).output.count("新成绩 0 条") == 1
    staff = app.test_client()
    sitting.staff_login(staff)
    page = staff.get(f"/results/sessions/{exam_session.id}").get_data(as_text=True)
    assert "100.0" in page and "50.0" in page and "免试" not in page and "待发布" in page

    # Nothing is visible to candidates before the release.
    sitting.login(client, 0)
    assert "100.0" not in client.get("/results/mine").get_data(as_text=True)
    released = runner.invoke(args=["release-results", exam_session.code])
    assert released.exit_code == 0 and "已发布 3 条成绩（3 名考生）" in released.output
    assert {r.status for r in session.scalars(select(Result))} == {"released"}
    mine = client.get("/results/mine").get_data(as_text=True)
    assert "初级保安员（五级）" in mine and "理论知识免试" not in mine and "100.0" in mine
    assert "尚有科目未出成绩" in mine  # the skill part has no result yet
    csrf_token_from(mine)

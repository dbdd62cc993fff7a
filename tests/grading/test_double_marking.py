"""Blind double marking: tasks from submitted essays, two independent marks, the tolerance, the chief
grader's adjudication, the final-mark rule, and what a grader may (not) see."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.delivery.models import Attempt
from exam_server.grading import monitoring
from exam_server.grading.assignment import assign_tasks, reassign
from exam_server.grading.errors import GradingError
from exam_server.grading.marking import adjudicate, submit_mark
from exam_server.grading.models import (
    ASSIGNED,
    FINAL,
    MARKED,
    NEEDS_ADJUDICATION,
    PENDING,
    WITHDRAWN,
    GradingAssignment,
    GradingTask,
    Mark,
)
from exam_server.grading.queries import criteria_of
from exam_server.grading.seed import seed_written_sitting, sit_written
from exam_server.results.models import Result
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from item_bank.audit import AuditEvent


class Written:
    """A level-2 written sitting with two candidates' papers submitted."""

    def __init__(self, session: Session, grading: dict[str, Any] | None = None, sat: int = 2) -> None:
        self.session = session
        self.seeded = seed_written_sitting(session, hash_profile="low", grading=grading)
        for attempt_id in self.seeded.attempt_ids[:sat]:
            sit_written(session, attempt_id)
        self.exam_session = session.get(ExamSession, self.seeded.exam_session_id)

    def user(self, name: str) -> User:
        return self.session.get(User, self.seeded.staff[name])

    def tasks(self, attempt_index: int | None = None) -> list[GradingTask]:
        query = select(GradingTask).where(GradingTask.superseded.is_(False)).order_by(GradingTask.id)
        if attempt_index is not None:
            query = query.where(GradingTask.attempt_id == self.seeded.attempt_ids[attempt_index])
        self.session.expire_all()
        return list(self.session.scalars(query))

    def assign(self, *names: str) -> int:
        return assign_tasks(self.session, self.exam_session, [self.seeded.staff[n] for n in names or
                                                                  ("grader1", "grader2")], "user:chief")

    def mark(self, task: GradingTask, grader: str, criteria: list[float], comment: str = "") -> Mark:
        return submit_mark(self.session, task.code, self.user(grader), criteria, None, comment, f"user:{grader}")


@pytest.fixture
def written(session: Session) -> Written:
    return Written(session)


def by_points(tasks: list[GradingTask]) -> tuple[GradingTask, GradingTask, GradingTask]:
    shorts = [t for t in tasks if t.max_points == 20]
    (essay,) = [t for t in tasks if t.max_points == 60]
    return shorts[0], shorts[1], essay


def test_submitted_essays_become_pending_tasks_not_results(session: Session, written: Written) -> None:
    tasks = written.tasks()
    assert len(tasks) == 6 and {t.status for t in tasks} == {PENDING}
    assert {t.kind for t in tasks} == {"item"} and {t.part for t in tasks} == {"written"}
    assert {(t.max_points, t.tolerance) for t in tasks} == {(20.0, 2.0), (60.0, 6.0)}
    assert len({t.code for t in tasks}) == 6
    assert session.scalar(select(Result)) is None
    assert session.get(Attempt, written.seeded.attempt_ids[0]).status == "submitted"


def test_marks_within_tolerance_make_the_mean_final(session: Session, written: Written) -> None:
    assert written.assign() == 6
    short1, short2, essay = by_points(written.tasks(0))
    assert {a.grader_id for a in short1.assignments} == {written.seeded.staff["grader1"], written.seeded.staff["grader2"]}
    written.mark(short1, "grader1", [4, 4, 4, 4])
    assert written.tasks(0)[0].status == MARKED
    written.mark(short1, "grader2", [5, 4, 4, 5])  # 16 vs 18: a difference equal to the tolerance is fine
    written.mark(short2, "grader1", [4, 4, 4, 3])
    written.mark(short2, "grader2", [4, 4, 3, 3])  # 15 vs 14
    written.mark(essay, "grader2", [13, 22, 9, 8.5])
    assert session.scalar(select(Result)) is None  # one task still open
    written.mark(essay, "grader1", [12, 20, 8, 8])  # 52.5 vs 48: within 6
    finals = {t.id: t.final_mark for t in written.tasks(0)}
    assert finals == {short1.id: 17.0, short2.id: 14.5, essay.id: 50.25}
    assert all(t.status == FINAL for t in written.tasks(0))
    (result,) = session.scalars(select(Result)).all()
    assert result.points == 81.75 and result.score == 81.8 and result.passed  # 81.75 rounds half up
    assert result.detail == {str(short1.item_version_id): 17.0, str(short2.item_version_id): 14.5,
                             str(essay.item_version_id): 50.25}
    assert session.get(Attempt, written.seeded.attempt_ids[0]).status == "scored"
    actions = {e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity == "grading_task"))}
    assert {"grading.create", "grading.assign", "grading.mark", "grading.finalise"} <= actions


def test_marks_beyond_tolerance_wait_for_the_chief_grader(session: Session, written: Written) -> None:
    written.assign()
    short1, short2, essay = by_points(written.tasks(0))
    written.mark(short1, "grader1", [4, 4, 4, 4])
    written.mark(short1, "grader2", [5, 5, 4, 4.5])  # 16 vs 18.5
    assert session.get(GradingTask, short1.id).status == NEEDS_ADJUDICATION
    assert session.get(GradingTask, short1.id).final_mark is None
    chief = written.user("chief")
    with pytest.raises(GradingError, match="理由"):
        adjudicate(session, short1.code, chief, [4, 5, 4, 4], None, "", "user:chief")
    with pytest.raises(GradingError, match="只有阅卷组长"):
        adjudicate(session, short1.code, written.user("grader3"), [4, 5, 4, 4], None, "理由", "user:grader3")
    adjudicate(session, short1.code, chief, [4, 5, 4, 4.5], None, "第二要点给分过宽", "user:chief")
    session.expire_all()
    task = session.get(GradingTask, short1.id)
    assert task.status == FINAL and task.final_mark == 17.5
    with pytest.raises(GradingError, match="不需要仲裁"):
        adjudicate(session, short1.code, chief, [4, 5, 4, 4], None, "again", "user:chief")
    for t in (short2, essay):
        crit = [c["points"] / 2 for c in criteria_of(session, t)]
        written.mark(t, "grader1", crit)
        written.mark(t, "grader2", crit)
    (result,) = session.scalars(select(Result)).all()
    assert result.points == 17.5 + 10 + 30


def test_the_adjudicated_rule_sends_every_task_to_the_chief(session: Session) -> None:
    written = Written(session, grading={"final_rule": "adjudicated", "tolerance": 3}, sat=1)
    written.assign()
    short1, _, _ = by_points(written.tasks(0))
    assert short1.tolerance == 3
    written.mark(short1, "grader1", [4, 4, 4, 4])
    written.mark(short1, "grader2", [4, 4, 4, 4])
    assert session.get(GradingTask, short1.id).status == NEEDS_ADJUDICATION
    adjudicate(session, short1.code, written.user("chief"), [4, 4, 4, 5], None, "确认",
                   "user:chief")
    assert session.get(GradingTask, short1.id).final_mark == 17


def test_marks_are_checked_against_the_rubric_and_given_once(session: Session, written: Written) -> None:
    written.assign()
    short1, _, _ = by_points(written.tasks(0))
    with pytest.raises(GradingError, match="0 到 5"):
        written.mark(short1, "grader1", [6, 4, 4, 4])
    with pytest.raises(GradingError, match=r"0\.5 的整数倍"):
        written.mark(short1, "grader1", [4.3, 4, 4, 4])
    with pytest.raises(GradingError, match="全部 4 条"):
        written.mark(short1, "grader1", [4, 4])
    with pytest.raises(GradingError) as refused:
        written.mark(short1, "grader3", [4, 4, 4, 4])
    assert refused.value.status == 403
    written.mark(short1, "grader1", [4, 4, 4, 4])
    with pytest.raises(GradingError) as twice:
        written.mark(short1, "grader1", [5, 5, 5, 5])
    assert twice.value.status == 409
    assert [m.total for m in session.scalars(select(Mark))] == [16]


def test_a_chief_who_marked_a_task_cannot_adjudicate_it(session: Session, written: Written) -> None:
    written.assign("grader1", "chief")
    short1, _, _ = by_points(written.tasks(0))
    written.mark(short1, "grader1", [1, 1, 1, 1])
    written.mark(short1, "chief", [5, 5, 5, 5])
    with pytest.raises(GradingError, match="另一位组长"):
        adjudicate(session, short1.code, written.user("chief"), [3, 3, 3, 3], None, "x", "user:chief")


def test_reassignment_moves_open_work_but_never_to_the_other_marker(session: Session, written: Written) -> None:
    written.assign()
    short1, _, _ = by_points(written.tasks(0))
    written.mark(short1, "grader1", [4, 4, 4, 4])
    staff = written.seeded.staff
    assert reassign(session, written.exam_session, staff["grader1"], staff["grader2"], "user:chief") == 0
    moved = reassign(session, written.exam_session, staff["grader1"], staff["grader3"], "user:chief", "请假")
    assert moved == 5  # six tasks, one already marked by grader1
    open_by = {
        (a.task_id, a.grader_id) for a in session.scalars(select(GradingAssignment).where(GradingAssignment.status == "open"))
    }
    assert not any(g == staff["grader1"] for _, g in open_by)
    assert session.scalar(select(GradingAssignment).where(GradingAssignment.status == WITHDRAWN)) is not None
    written.mark(short1, "grader2", [4, 4, 4, 4])
    assert session.get(GradingTask, short1.id).status == FINAL


def test_monitor_reports_progress_and_agreement(session: Session, written: Written,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitoring, "MIN_PAIRS", 3)  # the figures of 3 pairs, checked by hand
    written.assign()
    tasks = written.tasks()
    # On the 100-point scale: short tasks 80 vs 80 (exact), 80 vs 90 (adjacent at 10 %), essay 50 vs 75.
    plan = {0: ([4, 4, 4, 4], [4, 4, 4, 4]), 1: ([4, 4, 4, 4], [5, 4, 4, 5]), 2: ([8, 12, 5, 5], [10, 20, 8, 7])}
    for i, task in enumerate(tasks[:3]):
        m1, m2 = plan[i]
        written.mark(task, "grader1", m1)
        written.mark(task, "grader2", m2)
    m = monitoring.monitor(session, written.exam_session)
    assert m.total == 6 and m.by_status == {FINAL: 2, NEEDS_ADJUDICATION: 1, ASSIGNED: 3}
    assert [t.id for t in m.adjudication] == [tasks[2].id]
    g1 = next(g for g in m.graders if g.grader_id == written.seeded.staff["grader1"])
    assert (g1.open, g1.done, g1.n_pairs) == (3, 3, 3)
    assert g1.exact == pytest.approx(1 / 3) and g1.adjacent == pytest.approx(2 / 3)
    # 80, 80, 50 against 80, 90, 75: deviations (10, 10, -20) and (-5/3, 25/3, -20/3), so
    # r = 200 / sqrt(600 * 350/3) = 0.756.
    assert g1.pearson_r == pytest.approx(200 / math.sqrt(600 * 350 / 3))
    assert g1.mean_diff == pytest.approx((0 - 10 - 25) / 3)


# ---------------------------------------------------------------- through the web: what a grader sees


def staff_login(client: FlaskClient, username: str, password: str = "pw-staff") -> None:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302


def post_mark(client: FlaskClient, code: str, criteria: list[float], comment: str = "") -> Any:
    page = client.get(f"/grading/tasks/{code}").get_data(as_text=True)
    token = csrf_token_from(page)
    return client.post(f"/grading/tasks/{code}/mark",
                       data={"csrf_token": token, "criterion": [str(c) for c in criteria], "comment": comment})


def test_a_grader_sees_neither_identities_nor_the_other_mark(app: Flask, session: Session, written: Written) -> None:
    written.assign()
    short1, _, _ = by_points(written.tasks(0))
    people = session.scalars(select(Candidate)).all()
    secrets = [p.name for p in people] + [p.id_number for p in people]
    secrets += [t.number for t in session.scalars(select(Ticket))]

    second = app.test_client()
    staff_login(second, "grader2")
    assert post_mark(second, short1.code, [1.5, 2.5, 3.5, 4.5], "二评独有的评语ZXQ").status_code == 302

    first = app.test_client()
    staff_login(first, "grader1")
    queue = first.get("/grading/").get_data(as_text=True)
    page = first.get(f"/grading/tasks/{short1.code}").get_data(as_text=True)
    for html in (queue, page):
        assert short1.code in html
        for secret in secrets:
            assert secret not in html
    assert "二评独有的评语ZXQ" not in page and "12</strong>" not in page and "阅卷员 二号" not in page
    assert 'name="criterion"' in page and "首先礼貌上前询问" in page  # the response, beside the rubric
    assert post_mark(first, short1.code, [3, 3, 3, 3]).status_code == 302
    after = first.get(f"/grading/tasks/{short1.code}").get_data(as_text=True)
    assert "二评独有的评语ZXQ" not in after and "阅卷员 二号" not in after and "您已提交评分" in after

    outsider = app.test_client()
    staff_login(outsider, "grader3")
    assert outsider.get(f"/grading/tasks/{short1.code}").status_code == 403
    assert post_mark(outsider, short1.code, [1, 1, 1, 1]).status_code == 403

    chief = app.test_client()
    staff_login(chief, "chief")
    chief_page = chief.get(f"/grading/tasks/{short1.code}").get_data(as_text=True)
    assert "二评独有的评语ZXQ" in chief_page and "仲裁评分" not in chief_page  # 12 vs 12: agreed
    for secret in secrets:
        assert secret not in chief_page
    monitor = chief.get(f"/grading/monitor/{written.exam_session.id}").get_data(as_text=True)
    assert "阅卷员 一号" in monitor and "完全一致" in monitor

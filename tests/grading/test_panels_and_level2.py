"""Defence panels (3-5 examiners, mean or trimmed mean, the chair confirms) and a level-2 candidate from
submission through double marking, adjudication and panel scoring to a released result they can read."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.grading.assignment import assign_panel, assign_tasks, create_panel
from exam_server.grading.errors import GradingError
from exam_server.grading.marking import confirm_panel, submit_mark
from exam_server.grading.models import AGREED, DEFENCE, FINAL, MARKED, PENDING, THESIS, GradingTask
from exam_server.grading.queries import criteria_of, task_view
from exam_server.grading.seed import seed_written_sitting, sit_written
from exam_server.grading.tasks import submit_thesis
from exam_server.results.errors import ResultsError
from exam_server.results.models import RELEASED, Result, ReviewRequest
from exam_server.results.release import release_results
from exam_server.results.review_requests import decide_review, request_review
from exam_server.sessions.models import ExamSession

THESIS_TEXT = "论小区物业保安服务质量的提升\n\n一、问题的提出……".encode()


class Level2:
    def __init__(self, session: Session, grading: dict[str, Any] | None = None, n: int = 2) -> None:
        self.session = session
        self.seeded = seed_written_sitting(session, hash_profile="low", grading=grading, n_candidates=n)
        self.exam_session = session.get(ExamSession, self.seeded.exam_session_id)

    def uid(self, name: str) -> int:
        return self.seeded.staff[name]

    def user(self, name: str) -> User:
        return self.session.get(User, self.uid(name))

    def thesis(self, index: int = 0) -> tuple[GradingTask, GradingTask]:
        return submit_thesis(self.session, self.exam_session, self.seeded.candidate_ids[index], "论保安服务质量",
                                 ("论文.txt", "text/plain", THESIS_TEXT), "user:staff")

    def panel(self, *names: str, chair: str | None = None) -> Any:
        return create_panel(self.session, self.exam_session, "答辩第1组", [self.uid(n) for n in names],
                                self.uid(chair or names[0]), "user:staff")

    def score(self, task: GradingTask, name: str, criteria: list[float]) -> None:
        submit_mark(self.session, task.code, self.user(name), criteria, None, "", f"user:{name}")

    def mark(self, task: GradingTask, name: str, criteria: list[float]) -> None:
        self.score(task, name, criteria)


def panel_of(level2: Level2, members: list[str], totals: list[list[float]], chair: str | None = None) -> GradingTask:
    _, defence = level2.thesis()
    panel = level2.panel(*members, chair=chair)
    assert assign_panel(level2.session, panel, [defence.code], "user:staff") == 1
    for name, criteria in zip(members, totals, strict=True):
        level2.score(defence, name, criteria)
    return defence


# Defence rubric of level 2: 25, 35, 25, 15 points.
SCORES_3 = [[20, 28, 20, 12], [22, 30, 21, 13], [18, 25, 18, 11]]  # 80, 86, 72
SCORES_5 = [[15, 20, 15, 10], [20, 25, 20, 10], [20, 30, 20, 10], [21, 30, 21, 13], [25, 34, 25, 14]]
# ... 60, 75, 80, 85, 98


@pytest.mark.parametrize(
    ("rule", "members", "scores", "expected"),
    [
        ("trimmed_mean", ["grader1", "grader2", "grader3"], SCORES_3, 80.0),
        ("mean", ["grader1", "grader2", "grader3"], SCORES_3, (80 + 86 + 72) / 3),
        ("trimmed_mean", ["grader1", "grader2", "grader3", "examiner1", "examiner2"], SCORES_5, 80.0),
        ("mean", ["grader1", "grader2", "grader3", "examiner1", "examiner2"], SCORES_5, 79.6),
    ],
)
def test_panel_rules_with_three_and_five_members(
    session: Session, rule: str, members: list[str], scores: list[list[float]], expected: float
) -> None:
    level2 = Level2(session, grading={"panel_rule": rule}, n=1)
    defence = panel_of(level2, members, scores)
    session.expire_all()
    assert session.get(GradingTask, defence.id).status == AGREED
    task = confirm_panel(session, defence.code, level2.user(members[0]), "user:chair")
    assert task.status == FINAL and task.final_mark == pytest.approx(expected)
    assert task.final_rule == rule


def test_panel_size_and_chair_are_checked(session: Session) -> None:
    level2 = Level2(session, n=1)
    with pytest.raises(GradingError, match="3-5"):
        level2.panel("grader1", "grader2")
    with pytest.raises(GradingError, match="3-5"):
        level2.panel("grader1", "grader2", "grader3", "examiner1", "examiner2", "chief")
    with pytest.raises(GradingError, match="组长必须是"):
        level2.panel("grader1", "grader2", "grader3", chair="chief")


def test_only_the_chair_confirms_and_only_once_everyone_scored(session: Session) -> None:
    level2 = Level2(session, n=1)
    _, defence = level2.thesis()
    panel = level2.panel("grader1", "grader2", "grader3", chair="grader2")
    assign_panel(session, panel, [defence.code], "user:staff")
    level2.score(defence, "grader1", SCORES_3[0])
    assert session.get(GradingTask, defence.id).status == MARKED
    # A member who has scored does not see the others; neither does the chair before everyone has.
    assert task_view(session, defence.code, level2.user("grader1")).other_marks == []
    assert task_view(session, defence.code, level2.user("grader2")).other_marks == []
    with pytest.raises(GradingError, match="还有评委"):
        confirm_panel(session, defence.code, level2.user("grader2"), "user:grader2")
    level2.score(defence, "grader2", SCORES_3[1])
    level2.score(defence, "grader3", SCORES_3[2])
    with pytest.raises(GradingError, match="只有答辩小组组长"):
        confirm_panel(session, defence.code, level2.user("grader1"), "user:grader1")
    view = task_view(session, defence.code, level2.user("grader2"))
    assert sorted(m["total"] for m in view.other_marks) == [72, 80, 86] and view.panel_preview == 80
    assert task_view(session, defence.code, level2.user("grader1")).other_marks == []
    confirm_panel(session, defence.code, level2.user("grader2"), "user:grader2")
    with pytest.raises(GradingError):
        confirm_panel(session, defence.code, level2.user("grader2"), "user:grader2")


# ---------------------------------------------------------------- level 2 end to end


def login(client: FlaskClient, url: str, **fields: str) -> None:
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={**fields, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_level_two_from_submission_to_a_released_result(app: Flask, session: Session) -> None:
    level2 = Level2(session, n=2)
    sit_written(session, level2.seeded.attempt_ids[0])
    thesis, defence = level2.thesis(0)
    assert (thesis.kind, defence.kind, thesis.status, defence.status) == (THESIS, DEFENCE, PENDING, PENDING)
    assert thesis.max_points == 100 and thesis.tolerance == 10

    staff = app.test_client()
    login(staff, "/staff/login", username="staff", password="pw-staff")
    setup = staff.get(f"/grading/sessions/{level2.exam_session.id}/setup").get_data(as_text=True)
    assert defence.code in setup and "答辩小组" in setup

    # Written paper and thesis: two graders each, the essay adjudicated.
    assert assign_tasks(session, level2.exam_session, [level2.uid("grader1"), level2.uid("grader2")],
                            "user:chief") == 4
    tasks = {t.max_points: t for t in session.scalars(select(GradingTask).where(GradingTask.kind == "item"))}
    shorts = [t for t in session.scalars(select(GradingTask).where(GradingTask.kind == "item",
                                                                   GradingTask.max_points == 20))]
    for t, (a, b) in zip(shorts, [([4, 4, 4, 4], [5, 4, 4, 5]), ([4, 4, 3, 3], [4, 4, 4, 3])], strict=True):
        level2.mark(t, "grader1", a)
        level2.mark(t, "grader2", b)
    essay = tasks[60.0]
    level2.mark(essay, "grader1", [10, 15, 6, 6])  # 37
    level2.mark(essay, "grader2", [13, 22, 9, 8])  # 52: beyond 6
    chief = app.test_client()
    login(chief, "/staff/login", username="chief", password="pw-staff")
    page = chief.get(f"/grading/tasks/{essay.code}").get_data(as_text=True)
    assert "仲裁评分" in page and "37" in page and "52" in page
    token = csrf_token_from(page)
    response = chief.post(f"/grading/tasks/{essay.code}/adjudicate",
                          data={"csrf_token": token, "criterion": ["12", "18", "8", "7"], "comment": "按要点复评"})
    assert response.status_code == 302
    level2.mark(thesis, "grader1", [12, 28, 16, 16, 8])  # 80
    level2.mark(thesis, "grader2", [13, 30, 17, 17, 8])  # 85 -> 82.5

    # Defence: a panel of three, trimmed mean, chair confirms.
    panel = level2.panel("examiner1", "grader3", "chief", chair="examiner1")
    assign_panel(session, panel, [defence.code], "user:staff")
    for name, criteria in zip(["examiner1", "grader3", "chief"], SCORES_3, strict=True):
        level2.score(defence, name, criteria)
    assert session.scalar(select(Result).where(Result.part == "defence")) is None
    confirm_panel(session, defence.code, level2.user("examiner1"), "user:examiner1")

    session.expire_all()
    results = {r.part: r for r in session.scalars(select(Result).where(Result.superseded.is_(False)))}
    written, defence_result = results["written"], results["defence"]
    assert written.detail[str(essay.item_version_id)] == 45.0
    assert written.points == 17 + 14.5 + 45 and written.score == 76.5
    # Thesis 82.5 x 40 % + defence 80 x 60 % = 81.0
    assert defence_result.score == 81.0 and defence_result.detail == {"thesis": 82.5, "defence": 80.0}
    assert defence_result.basis["weights"] == {"thesis": 40.0, "defence": 60.0}

    # Release, then the candidate reads the result and asks for a review of the written paper.
    # The second candidate has not started and the sitting is still on: only the first one's results, by name.
    released = release_results(session, level2.exam_session.id, "user:staff", tickets=[level2.seeded.logins[0][0]],
                               reason="第二名考生尚未交卷，先发布已定分的考生")
    assert released.released == 2 and len(released.candidates) == 1
    number, password, name = level2.seeded.logins[0]
    candidate = app.test_client()
    login(candidate, "/login", ticket=number, password=password)
    mine = candidate.get("/results/mine").get_data(as_text=True)
    assert "保安师（二级）" in mine and "76.5" in mine and "81.0" in mine and 'id="outcome-2"' in mine
    assert "合格" in mine
    token = csrf_token_from(mine)
    assert candidate.post("/results/mine/review", data={"csrf_token": token, "result_id": str(written.id),
                                                       "reason": "论述题得分偏低"}).status_code == 302
    review = session.scalar(select(ReviewRequest))
    assert review.status == "submitted" and review.reason == "论述题得分偏低"
    other = app.test_client()
    number2, password2, _ = level2.seeded.logins[1]
    login(other, "/login", ticket=number2, password=password2)
    assert "76.5" not in other.get("/results/mine").get_data(as_text=True)
    with pytest.raises(ResultsError, match="没有找到"):
        request_review(session, level2.seeded.candidate_ids[1], written.id, "x", "candidate:x")

    # Re-grading: fresh graders, the earlier tasks kept; the new result supersedes and is released.
    decide_review(session, review.id, "regrade", "user:staff", "交由其他阅卷员重评")
    session.expire_all()
    new_tasks = session.scalars(select(GradingTask).where(GradingTask.round == 2)).all()
    assert len(new_tasks) == 3 and all(session.get(GradingTask, t.supersedes_id).superseded for t in new_tasks)
    n = assign_tasks(session, level2.exam_session,
                         [level2.uid(u) for u in ("grader1", "grader2", "grader3", "examiner2")], "user:chief")
    assert n == 3
    for t in new_tasks:
        graders = {a.grader_id for a in session.scalars(select(GradingTask).where(GradingTask.id == t.id)).one().assignments}
        assert graders == {level2.uid("grader3"), level2.uid("examiner2")}
    for t in new_tasks:
        crit = [c["points"] * 0.9 for c in criteria_of(session, t)]
        crit = [round(c * 2) / 2 for c in crit]
        level2.mark(t, "grader3", crit)
        level2.mark(t, "examiner2", crit)
    session.expire_all()
    review = session.get(ReviewRequest, review.id)
    assert review.status == "done"
    newest = session.get(Result, review.outcome_result_id)
    assert newest.supersedes_id == written.id and newest.status == RELEASED and "复核" in newest.reason
    assert session.get(Result, written.id).superseded and session.get(Result, written.id).score == 76.5
    assert newest.score == 90.0
    mine = candidate.get("/results/mine").get_data(as_text=True)
    assert "90.0" in mine and "已完成" in mine

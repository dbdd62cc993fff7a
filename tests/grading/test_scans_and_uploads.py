"""Paper sitters' scanned answer sheets and theses uploaded by centre staff become blind grading tasks."""

from __future__ import annotations

import io

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.grading.assignment import assign_tasks
from exam_server.grading.errors import GradingError
from exam_server.grading.marking import submit_mark
from exam_server.grading.models import DEFENCE, SCAN, THESIS, GradingDocument, GradingTask, Panel
from exam_server.grading.queries import criteria_of
from exam_server.grading.seed import seed_paper_sitting, seed_written_sitting
from exam_server.grading.tasks import submit_thesis, upload_scans
from exam_server.results.models import Result
from exam_server.sessions.models import ExamSession

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)



def login(client: FlaskClient, username: str) -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": "pw-staff", "csrf_token": token})
    assert response.status_code == 302
    return token


def test_scans_become_one_task_per_item_showing_the_pages(app: Flask, session: Session) -> None:
    seeded = seed_written_sitting(session, hash_profile="low", n_candidates=2)
    exam_session = session.get(ExamSession, seeded.exam_session_id)
    staff = app.test_client()
    login(staff, "staff")
    setup = staff.get(f"/grading/sessions/{exam_session.id}/setup").get_data(as_text=True)
    token = csrf_token_from(setup)
    candidate_id = seeded.candidate_ids[0]
    response = staff.post(
        f"/grading/sessions/{exam_session.id}/scans",
        data={"csrf_token": token, "candidate_id": str(candidate_id),
              "files": [(io.BytesIO(PNG), "陈志强-第1页.png", "image/png"), (io.BytesIO(PNG), "陈志强-第2页.png",
                                                                          "image/png")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    tasks = session.scalars(select(GradingTask).order_by(GradingTask.id)).all()
    assert [t.kind for t in tasks] == [SCAN] * 3 and {t.candidate_id for t in tasks} == {candidate_id}
    assert session.scalar(select(GradingDocument.original_name).limit(1)) == "陈志强-第1页.png"

    assign_tasks(session, exam_session, [seeded.staff["grader1"], seeded.staff["grader2"]], "user:chief")
    grader = app.test_client()
    login(grader, "grader1")
    page = grader.get(f"/grading/tasks/{tasks[0].code}").get_data(as_text=True)
    assert page.count('class="scan"') == 2 and "陈志强" not in page
    image = grader.get(f"/grading/tasks/{tasks[0].code}/documents/2")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PNG
    assert "陈志强" not in image.headers.get("Content-Disposition", "")
    assert grader.get(f"/grading/tasks/{tasks[0].code}/documents/3").status_code == 404
    outsider = app.test_client()
    login(outsider, "grader3")
    assert outsider.get(f"/grading/tasks/{tasks[0].code}/documents/1").status_code == 403

    # Once marked, the candidate's result is written like a typed paper's.
    for t in tasks:
        crit = [c["points"] / 2 for c in criteria_of(session, t)]
        for name in ("grader1", "grader2"):
            submit_mark(session, t.code, session.get(User, seeded.staff[name]), crit, None, "", name)
    (result,) = session.scalars(select(Result)).all()
    assert result.candidate_id == candidate_id and result.score == 50.0 and result.part == "written"
    with pytest.raises(GradingError, match="已开始评阅"):
        upload_scans(session, exam_session, candidate_id, [("p.png", "image/png", PNG)], "user:staff")


def test_scans_are_refused_for_papers_with_objective_items(session: Session) -> None:
    items = [{"type": "single", "stem": "单选（ ）", "options": ["甲", "乙"], "key": "A", "points": 1}]
    seeded = seed_paper_sitting(session, items, level=4, part="theory", hash_profile="low", code="OBJ")
    exam_session = session.get(ExamSession, seeded.exam_session_id)
    with pytest.raises(GradingError, match="须上机作答"):
        upload_scans(session, exam_session, seeded.candidate_ids[0], [("p.png", "image/png", PNG)], "user:staff")
    with pytest.raises(GradingError, match="不能上传"):
        upload_scans(session, exam_session, seeded.candidate_ids[0], [("p.gif", "image/gif", b"GIF")], "x")


def test_a_thesis_upload_creates_the_thesis_and_defence_tasks(app: Flask, session: Session) -> None:
    seeded = seed_written_sitting(session, hash_profile="low", n_candidates=1)
    exam_session = session.get(ExamSession, seeded.exam_session_id)
    staff = app.test_client()
    token = login(staff, "staff")
    token = csrf_token_from(staff.get(f"/grading/sessions/{exam_session.id}/setup").get_data(as_text=True))
    response = staff.post(
        f"/grading/sessions/{exam_session.id}/thesis",
        data={"csrf_token": token, "candidate_id": str(seeded.candidate_ids[0]), "title": "论门卫管理",
              "file": (io.BytesIO("论门卫管理\n正文……".encode()), "陈志强论文.txt", "text/plain")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    thesis, defence = session.scalars(select(GradingTask).order_by(GradingTask.id)).all()
    assert (thesis.kind, defence.kind) == (THESIS, DEFENCE)
    assert thesis.title == "论文：论门卫管理" and thesis.rubric.level == 2 and defence.rubric.part == "defence"
    # Replacing it before grading starts keeps the same tasks.
    again, _ = submit_thesis(session, exam_session, seeded.candidate_ids[0], "论门卫管理（修订）",
                                 ("t.txt", "text/plain", b"v2"), "user:staff")
    assert again.id == thesis.id and session.scalar(select(GradingDocument.data)) == b"v2"
    panel_form = staff.get(f"/grading/sessions/{exam_session.id}/setup").get_data(as_text=True)
    token = csrf_token_from(panel_form)
    ids = [str(seeded.staff[n]) for n in ("grader1", "grader2", "examiner1")]
    assert staff.post(f"/grading/sessions/{exam_session.id}/panels",
                      data={"csrf_token": token, "name": "第一组", "member": ids, "chair": ids[2]}).status_code == 302
    panel_id = session.scalar(select(Panel.id))
    assert staff.post(f"/grading/sessions/{exam_session.id}/panels/{panel_id}/assign",
                      data={"csrf_token": token, "task": [defence.code]}).status_code == 302
    session.expire_all()
    assert session.get(GradingTask, defence.id).status == "assigned"
    examiner = app.test_client()
    login(examiner, "examiner1")
    page = examiner.get(f"/grading/tasks/{defence.code}").get_data(as_text=True)
    # A defence is not blind (the candidate stands before the panel), but the file's name is never shown.
    assert "答辩评分" in page and "论门卫管理" in page and "陈志强论文" not in page and "答辩人 <strong>陈志强" in page

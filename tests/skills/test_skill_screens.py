"""Skill screens and the import: who may score where (an examiner of another station or sitting, a non-examiner, a
candidate may not), examiners blind to each other, the server re-checking marks and keeping what was typed, the Excel
import all or nothing with row and field, and the release waiting for open station scores."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from skills_support import PASSWORD, SkillWorld
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.results.errors import ResultsError
from exam_server.results.release import release_results
from exam_server.skills.errors import SkillFileError
from exam_server.skills.imports import import_scores
from exam_server.skills.models import SkillMark
from exam_server.skills.sheets import current_station

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _login(app: Flask, username: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, token


def _url(world: SkillWorld, session: Session, code: str = "S5-01", candidate: int = 0, sitting: int | None = None) -> str:
    station = current_station(session, code)
    assert station is not None
    return (f"/skills/sittings/{sitting or world.sitting.id}/stations/{station.id}"
            f"/candidates/{world.candidates[candidate].id}")


def test_only_the_stations_examiners_score_there(app: Flask, session: Session, skill_world: SkillWorld) -> None:
    url = _url(skill_world, session)
    for who in ("e3", "zk", "staff"):  # another station's examiner, the chief, centre staff
        client, token = _login(app, who)
        answer = client.post(url, data={"csrf_token": token, "c0": 4, "c1": 6, "c2": 4, "c3": 6})
        assert answer.status_code in (403, 404), who
        assert client.get(url).status_code in (403, 404), who
    # e3 examines S5-01 in the other sitting, which does not make them one here; and e1 is none there.
    e1, token = _login(app, "e1")
    other = _url(skill_world, session, sitting=skill_world.other.id)
    assert e1.get(other).status_code == 404
    assert e1.post(other, data={"csrf_token": token, "c0": 4, "c1": 6, "c2": 4, "c3": 6}).status_code == 404
    assert session.scalar(select(func.count()).select_from(SkillMark)) == 0
    candidate = app.test_client()
    assert candidate.get(url).status_code in (302, 401, 403)


def test_examiners_are_blind_to_each_other(app: Flask, session: Session, skill_world: SkillWorld) -> None:
    url = _url(skill_world, session)
    e1, token1 = _login(app, "e1")
    page = e1.get(url).get_data(as_text=True)
    assert 'id="score-form"' in page and "证件查验" in page and 'class="pick"' in page
    # Out of range on the server (the page's own checks bypassed): refused, and what was typed stays.
    refused = e1.post(url, data={"csrf_token": token1, "c0": 4, "c1": 9, "c2": 3.5, "c3": 6, "comment": "仪态好"})
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "应在 0 到 6 之间" in text and 'value="3.5"' in text and "仪态好" in text
    assert e1.post(url, data={"csrf_token": token1, "c0": 4, "c1": 6, "c2": 4, "c3": 6}).status_code == 302
    e2, token2 = _login(app, "e2")
    before = e2.get(url).get_data(as_text=True)
    assert 'id="score-form"' in before and "已提交" not in before and "考评 e1" not in before
    station_page = e2.get(url.rsplit("/candidates/", 1)[0]).get_data(as_text=True)
    assert "待评" in station_page and "已提交" not in station_page  # e1's mark does not show on e2's list
    e2.post(url, data={"csrf_token": token2, "c0": 1, "c1": 2, "c2": 1, "c3": 2})  # 6 against 20: the chief decides
    after = e2.get(url).get_data(as_text=True)
    assert "您已提交：6 分" in after and "主考" not in after and "20 分" not in after
    zk, _ = _login(app, "zk")
    decisions = zk.get(f"/skills/sittings/{skill_world.sitting.id}/decisions").get_data(as_text=True)
    assert skill_world.candidates[0].name in decisions and "保存裁定" in decisions


def _workbook(tmp_path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["准考证号", "考站编号", "考评员账号", "要点1", "要点2", "要点3", "要点4", "备注"])
    for row in rows:
        sheet.append(row)
    path = tmp_path / "scores.xlsx"
    book.save(path)
    return path


def _ticket(session: Session, world: SkillWorld, candidate: int) -> str:
    from exam_server.sessions.models import Ticket

    return session.scalar(select(Ticket.number).where(Ticket.session_id == world.sitting.id,
                                                      Ticket.candidate_id == world.candidates[candidate].id))


def test_the_import_stores_nothing_when_a_row_is_bad(session: Session, skill_world: SkillWorld, tmp_path: Path) -> None:
    t0, t1 = _ticket(session, skill_world, 0), _ticket(session, skill_world, 1)
    path = _workbook(tmp_path, [[t0, "S5-01", "e1", 4, 6, 4, 6, ""], [t0, "S5-01", "e2", 4, 7, 4, 6, ""],
                                [t1, "S5-01", "e3", 4, 6, 4, 6, ""], ["K0000099", "S5-09", "e1", 1, 1, 1, 1, ""]])
    with pytest.raises(SkillFileError) as refused:
        import_scores(session, skill_world.sitting, path, "scores.xlsx", "user:staff")
    where = {(p.row, p.field) for p in refused.value.problems}
    assert where == {(3, "要点2"), (4, "考评员账号"), (5, "准考证号"), (5, "考站编号")}
    assert "第 3 行「要点2」" in refused.value.message
    assert session.scalar(select(func.count()).select_from(SkillMark)) == 0
    good = _workbook(tmp_path, [[t0, "S5-01", "e1", 4, 6, 4, 6, ""], [t0, "S5-01", "e2", 4, 5, 4, 6, "复核"]])
    report = import_scores(session, skill_world.sitting, good, "scores.xlsx", "user:staff")
    assert report.rows == [(t0, "S5-01", "e1", 20.0), (t0, "S5-01", "e2", 19.0)]
    with pytest.raises(SkillFileError, match="已给准考证"):  # the same rows again: already scored
        import_scores(session, skill_world.sitting, good, "scores.xlsx", "user:staff")


def test_the_release_waits_for_the_station_scores(session: Session, skill_world: SkillWorld) -> None:
    with pytest.raises(ResultsError) as refused:
        release_results(session, skill_world.sitting.id, "user:staff")
    assert "考站 S5-01" in refused.value.message and "待评" in refused.value.message


def test_the_upload_runs_as_a_job_that_names_the_bad_row(app: Flask, session: Session, skill_world: SkillWorld,
                                                          tmp_path: Path) -> None:
    from exam_server.jobs.models import Job

    t0 = _ticket(session, skill_world, 0)
    path = _workbook(tmp_path, [[t0, "S5-01", "e1", 4, 6, 4, 6, ""], [t0, "S5-01", "e2", "=4", 6, 4, 6, ""]])
    staff, token = _login(app, "staff")
    with path.open("rb") as f:
        answer = staff.post(f"/skills/sittings/{skill_world.sitting.id}/import",
                            data={"csrf_token": token, "file": (f, "评分.xlsx")}, content_type="multipart/form-data")
    assert answer.status_code == 302 and "/jobs/" in answer.headers["Location"]
    job = session.scalar(select(Job).order_by(Job.id.desc()))
    assert job.kind == "skills.import_scores" and job.status == "failed"
    assert "第 3 行「要点1」" in staff.get(answer.headers["Location"]).get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(SkillMark)) == 0
    page = staff.get(f"/skills/sittings/{skill_world.sitting.id}").get_data(as_text=True)
    assert "S5-01" in page and "打印评分表" in page
    pdf = staff.get(f"/skills/sittings/{skill_world.sitting.id}/stations/{current_station(session, 'S5-01').id}/sheet.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_staff_create_a_skill_sitting_and_assign_its_examiners(app: Flask, session: Session,
                                                               skill_world: SkillWorld) -> None:
    from exam_server.sessions.models import ExamSession
    from exam_server.skills.models import Examiner
    from exam_server.skills.operations import add_candidates

    theory = session.scalar(select(ExamSession).where(ExamSession.code == "T5"))
    add_candidates(session, theory, [c.id for c in skill_world.candidates], "test")
    session.commit()
    staff, token = _login(app, "staff")
    assert "新建操作技能场次" in staff.get("/skills/sittings").get_data(as_text=True)
    refused = staff.post("/skills/sittings", data={"csrf_token": token, "source": theory.id, "code": "K5-W",
                                                   "date": "2026-12-21", "start": "9点"})
    assert refused.status_code == 400 and "格式不对" in refused.get_data(as_text=True)
    made = staff.post("/skills/sittings", data={"csrf_token": token, "source": theory.id, "code": "K5-W",
                                                "date": "2026-12-21", "start": "09:00", "hours": "4"})
    assert made.status_code == 302
    sitting = session.scalar(select(ExamSession).where(ExamSession.code == "K5-W"))
    assert (sitting.part, sitting.level, sitting.centre_id) == ("skill", 5, theory.centre_id)
    page = staff.get(f"/skills/sittings/{sitting.id}").get_data(as_text=True)
    assert 'id="skill-setup"' in page and "考评 e1（e1）" in page
    users = skill_world.users
    form = {"csrf_token": token, "use_S5-01": "1", "ex1_S5-01": users["e1"].id, "ex2_S5-01": users["e2"].id,
            "chief": users["e1"].id}
    staff.post(f"/skills/sittings/{sitting.id}/setup", data=form)  # the chief may not examine
    assert session.scalar(select(func.count()).select_from(Examiner).where(Examiner.session_id == sitting.id)) == 0
    answer = staff.post(f"/skills/sittings/{sitting.id}/setup", data=form | {"chief": users["zk"].id})
    assert answer.status_code == 302
    rows = session.execute(select(Examiner.role, Examiner.user_id).where(Examiner.session_id == sitting.id)).all()
    assert sorted(rows) == sorted([("examiner", users["e1"].id), ("examiner", users["e2"].id),
                                   ("chief", users["zk"].id)])
    e1, _ = _login(app, "e1")
    assert "K5-W" in e1.get("/skills/").get_data(as_text=True)

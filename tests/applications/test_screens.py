"""The screens: the province's windows and rules, a unit's entry, upload (a job) and link, a candidate's own form."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

from applications_support import write_rows
from flask import Flask
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from exam_server.applications.models import Application, ApplicationWindow, UnitApplicationLink


def png(size: tuple[int, int] = (300, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_other_roles_are_refused(app: Flask, world) -> None:
    author = app.test_client()
    token = world.login(author, "author")
    for url in ("/applications", "/applications/new", "/applications/import", "/province/windows",
                "/applications/rules", "/applications/template.xlsx"):
        assert author.get(url).status_code == 403, url
    unit = app.test_client()
    token = world.login(unit, "unit1")
    assert unit.get("/province/windows").status_code == 403
    assert unit.post("/province/windows", data={"csrf_token": token, "level": "4"}).status_code == 403
    assert unit.post("/applications/rules/5", data={"csrf_token": token, "config": "{}"}).status_code == 403
    assert app.test_client().get("/applications").status_code in (302, 401)


def test_the_province_opens_a_level_on_its_screen(app: Flask, world) -> None:
    client = app.test_client()
    token = world.login(client, "prov")
    today = world.today
    done = client.post("/province/windows", data={
        "csrf_token": token, "level": "4", "part": ["skill"], "opens_on": str(today),
        "closes_on": str(today + dt.timedelta(days=5))}, follow_redirects=True)
    assert "已开放中级保安员（四级）申报" in done.get_data(as_text=True)
    window = world.session.scalar(select(ApplicationWindow).where(ApplicationWindow.level == 4))
    assert window.part == "skill"
    bad = client.post(f"/province/windows/{window.id}", data={
        "csrf_token": token, "opens_on": str(today), "closes_on": str(today - dt.timedelta(days=1))})
    assert bad.status_code == 400 and "早于开始日期" in bad.get_data(as_text=True)


def test_rules_are_read_in_words_and_saved_as_json(app: Flask, world) -> None:
    unit = app.test_client()
    world.login(unit, "unit1")
    page = unit.get("/applications/rules").get_data(as_text=True)
    assert "保安员证发证日期距考试日期不足 3 年的，免考理论知识" in page and "<textarea" not in page
    prov = app.test_client()
    token = world.login(prov, "prov")
    config = {"rules": [{"rule": "guard_certificate"}, {"rule": "theory_exemption", "years": 2}]}
    assert prov.post("/applications/rules/5", data={"csrf_token": token, "config": json.dumps(config)}).status_code == 302
    assert "不足 2 年的，免考理论知识" in unit.get("/applications/rules").get_data(as_text=True)
    bad = prov.post("/applications/rules/5", data={"csrf_token": token, "config": "{\"rules\": [{\"rule\": \"x\"}]}"})
    assert bad.status_code == 400 and "rule 应为" in bad.get_data(as_text=True)


def test_a_unit_enters_one_with_a_photo_and_sees_the_decisions(app: Flask, world) -> None:
    client = app.test_client()
    token = world.login(client, "unit1")
    assert "广州保安培训学校" in client.get("/applications/new").get_data(as_text=True)
    row = world.row(1, 申报等级="5", 培训单位="U1",
                    保安员证发证日期=(world.today - dt.timedelta(days=400)).isoformat())
    done = client.post("/applications/new", data={"csrf_token": token, **row,
                                                   "photo": (io.BytesIO(png()), "me.png")},
                       content_type="multipart/form-data")
    assert done.status_code == 302, done.get_data(as_text=True)
    application = world.session.scalar(select(Application))
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "免考理论知识" in page and "持有保安员证" in page and "待初审" in page
    photo = client.get(f"/applications/{application.id}/photo")
    assert photo.status_code == 200 and photo.mimetype == "image/png" and photo.data == png()
    again = client.post("/applications/new", data={"csrf_token": token, **row}, content_type="multipart/form-data")
    assert again.status_code == 400 and "已有初级保安员（五级）的申请" in again.get_data(as_text=True)


def test_a_unit_uploads_its_workbook_as_a_job(app: Flask, world, tmp_path: Path) -> None:
    client = app.test_client()
    token = world.login(client, "unit1")
    template = client.get("/applications/template.xlsx")
    assert template.status_code == 200
    assert [c.value for c in load_workbook(io.BytesIO(template.data))["申请"][1]][:2] == ["姓名", "身份证号"]
    path = write_rows(tmp_path / "学员.xlsx", [world.row(n) for n in range(1, 6)])
    job = client.post("/applications/import", data={"csrf_token": token, "file": (path.open("rb"), "学员.xlsx")},
                      content_type="multipart/form-data")
    assert job.status_code == 302 and "/jobs/" in job.headers["Location"]
    page = client.get(job.headers["Location"]).get_data(as_text=True)
    assert "导入 5 份申请" in page
    assert world.session.query(Application).count() == 5
    bad = write_rows(tmp_path / "bad.xlsx", [world.row(6), world.row(7, 申报等级="九级")])
    job = client.post("/applications/import", data={"csrf_token": token, "file": (bad.open("rb"), "bad.xlsx")},
                      content_type="multipart/form-data")
    page = client.get(job.headers["Location"]).get_data(as_text=True)
    assert "第 3 行【申报等级】" in page and world.session.query(Application).count() == 5


def test_a_candidate_applies_through_the_units_link(app: Flask, world) -> None:
    unit = app.test_client()
    token = world.login(unit, "unit1")
    unit.post("/applications/link", data={"csrf_token": token})
    link = world.session.scalar(select(UnitApplicationLink))
    assert link.unit_id == world.unit1.id
    assert f"/apply/{link.token}" in unit.get("/applications/import").get_data(as_text=True)
    public = app.test_client()
    from conftest import csrf_token_from

    form = public.get(f"/apply/{link.token}").get_data(as_text=True)
    assert "广州保安培训学校" in form
    ptoken = csrf_token_from(form)
    no_photo = public.post(f"/apply/{link.token}", data={"csrf_token": ptoken, **world.row(1, 申报等级="5")},
                           content_type="multipart/form-data")
    assert no_photo.status_code == 400 and "证件照" in no_photo.get_data(as_text=True)
    done = public.post(f"/apply/{link.token}", data={"csrf_token": ptoken, **world.row(1, 申报等级="5"),
                                                     "photo": (io.BytesIO(png()), "me.png")},
                       content_type="multipart/form-data")
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "申请已受理" in text and "须参加理论知识考试" in text
    application = world.session.scalar(select(Application))
    assert application.channel == "link" and application.unit_id == world.unit1.id and application.photo_id
    # The unit rejects it with a reason; the candidate reads it on the status page.
    unit.post(f"/applications/{application.id}/review", data={"csrf_token": token, "stage": "unit",
                                                               "decision": "reject", "reason": "证件照不是近期照片"})
    status = public.post("/apply-status", data={"csrf_token": ptoken, "id_number": application.id_number,
                                                "phone": application.phone}).get_data(as_text=True)
    assert "初审未通过" in status and "证件照不是近期照片" in status and "重新申请" in status
    assert "没有找到" in public.post("/apply-status", data={"csrf_token": ptoken, "id_number": application.id_number,
                                                              "phone": "13900000000"}).get_data(as_text=True)
    # A renewed link ends the old one.
    old = link.token
    unit.post("/applications/link", data={"csrf_token": token, "renew": "1"})
    assert public.get(f"/apply/{old}").status_code == 404


def test_a_unit_uploads_a_zip_of_photos_as_a_job(app: Flask, world, tmp_path: Path) -> None:
    import zipfile

    from exam_server.applications import operations as ops

    application = ops.submit_application(world.session, world.unit1, world.row(1), channel="screen", actor="user:t")
    path = tmp_path / "照片.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{application.id_number}.png", png())
    client = app.test_client()
    token = world.login(client, "unit1")
    assert "批量导入证件照" in client.get("/applications/import").get_data(as_text=True)
    job = client.post("/applications/photos", data={"csrf_token": token, "file": (path.open("rb"), "照片.zip")},
                      content_type="multipart/form-data")
    assert job.status_code == 302 and "/jobs/" in job.headers["Location"]
    assert "保存 1 张证件照" in client.get(job.headers["Location"]).get_data(as_text=True)
    world.session.expire_all()  # the job wrote through its own session; this test's outlives a request
    assert client.get(f"/applications/{application.id}/photo").data == png()

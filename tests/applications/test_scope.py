"""Unit staff see and act on their own unit's applicants only, over HTTP and in the CLI; the centre sees its units'."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from applications_support import write_rows
from flask import Flask

from exam_server.applications import operations as ops


def _two(world):
    mine = ops.submit_application(world.session, world.unit1, world.row(1), channel="screen", actor="user:unit1")
    theirs = ops.submit_application(world.session, world.unit2, world.row(2, 培训单位="U2"), channel="screen",
                                    actor="user:unit2")
    return mine.id, theirs.id


def test_http_unit_staff_see_only_their_own(app: Flask, world) -> None:
    mine, theirs = _two(world)
    client = app.test_client()
    token = world.login(client, "unit1")
    listing = client.get("/applications").get_data(as_text=True)
    assert world.row(1)["身份证号"] in listing and world.row(2)["身份证号"] not in listing
    assert client.get(f"/applications/{mine}").status_code == 200
    assert client.get(f"/applications/{theirs}").status_code == 403
    assert client.get(f"/applications/{theirs}/photo").status_code == 403
    refused = client.post(f"/applications/{theirs}/review", data={"csrf_token": token, "stage": "unit",
                                                                   "decision": "approve"})
    assert refused.status_code == 403
    # A batch naming the other unit's applicant leaves it alone and says so.
    batch = client.post("/applications/review", data={"csrf_token": token, "stage": "unit", "decision": "approve",
                                                       "ids": [mine, theirs]}, follow_redirects=True)
    assert "初审通过 1 份申请；1 份未处理" in batch.get_data(as_text=True)
    statuses = {a.id: a.status for a in world.session.query(ops.Application).populate_existing()}
    assert statuses == {mine: "unit_approved", theirs: "submitted"}
    # 复审 is not a unit's.
    assert client.post(f"/applications/{mine}/review", data={"csrf_token": token, "stage": "centre",
                                                             "decision": "approve"}).status_code == 403


def test_http_the_centre_reviews_its_units_and_the_police_only_read(app: Flask, world) -> None:
    mine, theirs = _two(world)
    unit = app.test_client()
    token = world.login(unit, "unit1")
    unit.post(f"/applications/{mine}/review", data={"csrf_token": token, "stage": "unit", "decision": "approve"})
    centre = app.test_client()
    token = world.login(centre, "centre")
    page = centre.get("/applications").get_data(as_text=True)
    assert world.row(1)["身份证号"] in page and world.row(2)["身份证号"] in page
    done = centre.post(f"/applications/{mine}/review", data={"csrf_token": token, "stage": "centre",
                                                             "decision": "reject", "reason": "照片不合格"})
    assert done.status_code == 302
    police = app.test_client()
    token = world.login(police, "police")
    assert police.get(f"/applications/{mine}").status_code == 200
    assert police.post(f"/applications/{theirs}/review", data={"csrf_token": token, "stage": "unit",
                                                               "decision": "approve"}).status_code == 403
    assert "照片不合格" in unit.get(f"/applications/{mine}").get_data(as_text=True)


def test_cli_import_review_and_list_are_scoped(app: Flask, world, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    path = write_rows(tmp_path / "a.xlsx", [world.row(1), world.row(2)])
    refused = runner.invoke(args=["import-applications", str(path), "--unit", "U2", "--as", "unit1"])
    assert refused.exit_code == 1 and "不属于您所在的机构" in refused.output
    done = runner.invoke(args=["import-applications", str(path), "--unit", "U1", "--as", "unit1"])
    assert done.exit_code == 0 and "已导入 2 份申请" in done.output, done.output
    theirs = ops.submit_application(world.session, world.unit2, world.row(3, 培训单位="U2"), channel="screen",
                                    actor="user:unit2")
    listed = runner.invoke(args=["list-applications", "--as", "unit1"])
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 2
    assert world.row(3)["身份证号"] not in listed.output
    assert len(runner.invoke(args=["list-applications", "--as", "centre"]).output.splitlines()) == 3
    other = runner.invoke(args=["review-applications", str(theirs.id), "--as", "unit1", "--stage", "unit"])
    assert other.exit_code == 1 and "不属于本机构" in other.output
    world.session.refresh(theirs)
    assert theirs.status == "submitted"
    ids = [line.split("\t")[0] for line in listed.output.splitlines()]
    ok = runner.invoke(args=["review-applications", *ids, "--as", "unit1", "--stage", "unit"])
    assert ok.exit_code == 0 and "初审通过 2 份申请" in ok.output
    not_a_centre = runner.invoke(args=["review-applications", *ids, "--as", "unit1", "--stage", "centre"])
    assert not_a_centre.exit_code == 1 and "不能做复审" in not_a_centre.output


def test_cli_import_names_every_bad_row(app: Flask, world, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "bad.xlsx", [world.row(1), world.row(2, 申报等级="六级"), world.row(3, 姓名=None)])
    out = app.test_cli_runner().invoke(args=["import-applications", str(path), "--unit", "U1", "--as", "unit1"])
    assert out.exit_code == 1
    assert "第 3 行【申报等级】" in out.output and "第 4 行【姓名】必填" in out.output
    assert "2 处问题，未导入任何申请" in out.output
    assert world.session.query(ops.Application).count() == 0


def test_cli_opens_a_level_and_writes_the_template(app: Flask, world, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    until = (world.today + dt.timedelta(days=3)).isoformat()
    out = runner.invoke(args=["open-applications", "四级", "--until", until, "--part", "skill"])
    assert out.exit_code == 0 and "中级保安员（四级）\t操作技能" in out.output, out.output
    again = runner.invoke(args=["open-applications", "4", "--until", until, "--part", "skill"])
    assert again.exit_code == 1 and "重叠" in again.output
    assert runner.invoke(args=["open-applications", "九级", "--until", until]).exit_code == 1
    template = tmp_path / "t.xlsx"
    assert runner.invoke(args=["application-template", str(template)]).exit_code == 0 and template.exists()


def test_cli_photos_only_for_the_accounts_unit(app: Flask, world, tmp_path: Path) -> None:
    import io
    import zipfile

    from PIL import Image

    theirs = ops.submit_application(world.session, world.unit2, world.row(3, 培训单位="U2"), channel="screen",
                                    actor="user:unit2")
    picture = io.BytesIO()
    Image.new("RGB", (200, 260)).save(picture, format="JPEG")
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{theirs.id_number}.jpg", picture.getvalue())
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["import-photos", str(path), "--unit", "U2", "--as", "unit1"])
    assert refused.exit_code == 1 and "不属于您所在的机构" in refused.output
    done = runner.invoke(args=["import-photos", str(path), "--unit", "U2", "--as", "unit2"])
    assert done.exit_code == 0 and "已保存 1 张证件照" in done.output, done.output

"""A unit's Excel import: the template's columns, all or nothing, every bad row named by row number and column."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from applications_support import write_rows
from openpyxl import load_workbook

from exam_server.applications import operations as ops
from exam_server.applications.excel import read_workbook, write_template
from exam_server.applications.intake import COLUMNS
from exam_server.applications.models import Application


def run(world, path: Path) -> ops.ImportResult:
    sheet = read_workbook(path)
    if sheet.problems:
        raise ops.ApplicationError("unreadable", problems=sheet.problems)
    return ops.import_rows(world.session, world.unit1, sheet.rows, actor="user:unit1", file=path.name)


def test_the_template_has_exactly_the_columns(tmp_path: Path) -> None:
    write_template(tmp_path / "t.xlsx")
    ws = load_workbook(tmp_path / "t.xlsx")["申请"]
    assert [c.value for c in ws[1]] == ["姓名", "身份证号", "性别", "手机号", "工作单位", "保安员证编号",
                                        "保安员证发证日期", "申报等级", "培训单位"]
    assert read_workbook(tmp_path / "t.xlsx").problems == []


def test_a_good_file_is_imported_with_every_level_spelling(world, tmp_path: Path) -> None:
    rows = [world.row(n, 申报等级=spelling) for n, spelling in enumerate(("初级保安员", "初级", "五级", 5), start=1)]
    rows[1]["保安员证发证日期"] = dt.datetime.combine(world.today - dt.timedelta(days=100), dt.time())  # a date cell
    rows[2]["培训单位"] = "U2"  # a unit named by its code
    result = run(world, write_rows(tmp_path / "ok.xlsx", rows))
    assert (result.rows, result.created, result.exempt) == (4, 4, 1)
    stored = world.session.query(Application).order_by(Application.id).all()
    assert [a.level for a in stored] == [5, 5, 5, 5] and {a.channel for a in stored} == {"import"}
    assert {a.unit_id for a in stored} == {world.unit1.id} and stored[2].training_unit_id == world.unit2.id
    assert stored[1].theory_exempt and stored[1].parts == ["skill"]


def test_every_bad_row_is_named_and_nothing_is_stored(world, tmp_path: Path) -> None:
    good = world.row(1)
    bad_check = world.row(2)
    bad_check["身份证号"] = bad_check["身份证号"][:17] + ("0" if bad_check["身份证号"][17] != "0" else "1")
    first17 = "44010619990230001"  # 30 February
    from exam_server.applications.idcard import check_digit
    impossible = world.row(3, 身份证号=first17 + check_digit(first17))
    future = world.row(4, 保安员证发证日期=(world.today + dt.timedelta(days=1)).isoformat())
    unknown_level = world.row(5, 申报等级="六级")
    unknown_unit = world.row(6, 培训单位="不存在的学校")
    duplicate = world.row(1)  # the same person and level as row 2
    missing = world.row(8, 手机号=None)
    rows = [good, bad_check, impossible, future, unknown_level, unknown_unit, duplicate, missing]
    with pytest.raises(ops.ApplicationError) as refused:
        run(world, write_rows(tmp_path / "bad.xlsx", rows))
    named = {(p.row, p.column) for p in refused.value.problems}
    assert named == {(3, "身份证号"), (4, "身份证号"), (5, "保安员证发证日期"), (6, "申报等级"), (7, "培训单位"),
                     (8, "身份证号"), (9, "手机号")}
    text = {(p.row, p.column): p.message for p in refused.value.problems}
    assert "校验位错误" in text[(3, "身份证号")] and "不存在" in text[(4, "身份证号")]
    assert "将来" in text[(5, "保安员证发证日期")] and "无法识别" in text[(6, "申报等级")]
    assert "不是已登记" in text[(7, "培训单位")] and "与第 2 行重复" in text[(8, "身份证号")]
    assert "必填" in text[(9, "手机号")]
    assert "第 3 行【身份证号】" in refused.value.message
    assert world.session.query(Application).count() == 0


def test_a_person_who_already_applied_in_the_window_is_a_duplicate(world, tmp_path: Path) -> None:
    ops.submit_application(world.session, world.unit1, world.row(1), channel="screen", actor="user:unit1")
    with pytest.raises(ops.ApplicationError) as refused:
        run(world, write_rows(tmp_path / "dup.xlsx", [world.row(2), world.row(1)]))
    assert [(p.row, p.column) for p in refused.value.problems] == [(3, "身份证号")]
    assert "在本次申报时间内已有" in refused.value.problems[0].message
    assert world.session.query(Application).count() == 1


def test_header_problems_and_formulas(world, tmp_path: Path) -> None:
    wrong = write_rows(tmp_path / "h.xlsx", [world.row(1)], header=(*(c for c in COLUMNS if c != "手机号"), "备注"))
    problems = {(p.row, p.column, p.message) for p in read_workbook(wrong).problems}
    assert (1, "手机号", "缺少必填列") in problems and any(p[1] == "备注" for p in problems)
    path = write_rows(tmp_path / "f.xlsx", [world.row(1)])
    wb = load_workbook(path)
    wb["申请"]["A2"] = "=CONCAT(\"张\",\"三\")"
    wb.save(path)
    assert [(p.row, p.column) for p in read_workbook(path).problems] == [(2, "姓名")]


def test_not_a_workbook_and_a_zip_bomb_are_refused_before_openpyxl(tmp_path: Path) -> None:
    text = tmp_path / "x.xlsx"
    text.write_text("姓名,身份证号\n", encoding="utf-8")
    assert "不是有效的 Excel 文件" in read_workbook(text).problems[0].message
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (80 * 1024 * 1024))
    problems = read_workbook(bomb).problems
    assert problems and problems[0].column == "xl/worksheets/sheet1.xml"


def test_a_level_the_unit_may_not_present_is_refused(world, tmp_path: Path) -> None:
    today = world.today
    ops.open_window(world.session, level=3, part="skill", opens_on=today, closes_on=today, actor="cli:t")
    with pytest.raises(ops.ApplicationError) as refused:
        run(world, write_rows(tmp_path / "l3.xlsx", [world.row(1, 申报等级="高级保安员")]))
    assert any("未获准申报高级保安员" in p.message for p in refused.value.problems)

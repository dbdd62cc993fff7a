"""Keeping organisations: the operations' checks, and examctl add-centre / add-unit / list-* / --organisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.organisations import operations as ops
from exam_server.organisations.models import Centre, City, PilotUnit, Province
from exam_server.organisations.scope import OutOfScope, scope_for
from exam_server.sessions.models import Site
from item_bank.audit import AuditEvent

STRONG = "Organisation-Pw-2026"


def test_a_unit_in_an_unknown_city_creates_the_city_under_the_province(app: Flask, session: Session) -> None:
    centre = ops.create_centre(session, name="广州鉴定中心", city="广州", actor="test")
    unit = ops.create_unit(session, name="佛山保安学校", city="佛山", licence_number=" 粤公保培字001 ",
                           levels="4，初级", actor="test")
    province = session.scalar(select(Province))
    assert province is not None and centre.parent.parent_id == province.id
    foshan = session.scalar(select(City).where(City.name == "佛山"))
    assert unit.parent_id == foshan.id and foshan.parent_id == province.id
    assert unit.levels == [5, 4] and unit.licence_number == "粤公保培字001"
    assert unit.centre_id is None  # 佛山 has no centre: none is guessed
    in_guangzhou = ops.create_unit(session, name="广州保安学校", city="广州", actor="test")
    assert in_guangzhou.centre_id == centre.id  # the city's only centre
    assert [c.code for c in (centre, unit, in_guangzhou)] == ["C001", "U0001", "U0002"]
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"province.created", "city.created", "centre.created", "unit.created"} <= actions


@pytest.mark.parametrize(("change", "field"), [
    ({"levels": "5,6"}, "等级"),
    ({"levels": "七级"}, "等级"),
    ({"name": "  "}, "名称"),
    ({"code": "有空 格"}, "编号"),
    ({"city": ""}, "城市"),
    ({"licence_number": "9" * 61}, "保安培训许可证编号"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    app: Flask, session: Session, change: dict[str, str], field: str
) -> None:
    args = {"name": "某保安学校", "city": "广州", "levels": "5", "licence_number": "", "code": None} | change
    with pytest.raises(ops.OrganisationError) as refused:
        ops.create_unit(session, actor="test", **args)
    assert refused.value.message.startswith(f"{field}：") and refused.value.details["field"] == field
    assert session.scalar(select(PilotUnit)) is None and session.scalar(select(City)) is None


def test_names_and_codes_are_unique(app: Flask, session: Session) -> None:
    ops.create_centre(session, name="广州鉴定中心", city="广州", code="GZ", actor="test")
    with pytest.raises(ops.OrganisationError, match="名称：已有鉴定中心“广州鉴定中心”"):
        ops.create_centre(session, name="广州鉴定中心", city="广州", actor="test")
    with pytest.raises(ops.OrganisationError, match="编号：GZ 已被鉴定中心 广州鉴定中心 使用"):
        ops.create_unit(session, name="某单位", city="广州", code="GZ", actor="test")


def test_centre_staff_keep_only_their_own_centre(
    app: Flask, session: Session, world: Any, make_account: Callable[..., Any]
) -> None:
    scope = scope_for(make_account("staff_a", ["centre_staff"], world.centre_a.id))
    mine = ops.create_unit(session, name="广州第二保安学校", city="广州", actor="test", scope=scope)
    assert mine.centre_id == world.centre_a.id  # their own centre by default
    with pytest.raises(OutOfScope):
        ops.create_unit(session, name="越界单位", city="深圳", centre="CB", actor="test", scope=scope)
    with pytest.raises(OutOfScope):
        ops.update_unit(session, world.unit_b, licence_number="X", actor="test", scope=scope)
    with pytest.raises(OutOfScope):  # nor hand their unit to another centre
        ops.update_unit(session, world.unit_a, centre="CB", actor="test", scope=scope)
    with pytest.raises(OutOfScope, match="只有省级账号"):
        ops.create_centre(session, name="新中心", city="珠海", actor="test", scope=scope)
    session.rollback()
    assert session.get(PilotUnit, world.unit_a.id).centre_id == world.centre_a.id
    assert session.scalar(select(PilotUnit).where(PilotUnit.name == "越界单位")) is None


def test_the_commands(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    out = runner.invoke(args=["add-centre", "广州鉴定中心", "--city", "广州"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("C001\t广州鉴定中心")
    out = runner.invoke(args=["add-unit", "广州保安学校", "--city", "广州", "--licence", "粤001", "--levels", "5,4"])
    assert out.exit_code == 0 and out.output.startswith("U0001\t广州保安学校\t广州\t广州鉴定中心"), out.output
    out = runner.invoke(args=["add-unit", "湛江保安学校", "--city", "湛江"])
    assert out.exit_code == 0 and "未指定鉴定中心" in out.output
    assert session.scalar(select(City).where(City.name == "湛江")) is not None
    bad = runner.invoke(args=["add-unit", "坏单位", "--city", "广州", "--levels", "5,9"])
    assert bad.exit_code == 1 and "等级：“9”不是等级" in bad.output
    unknown = runner.invoke(args=["add-unit", "坏单位", "--city", "广州", "--centre", "NOPE"])
    assert unknown.exit_code == 1 and "鉴定中心：没有编号或名称为“NOPE”的鉴定中心" in unknown.output
    assert runner.invoke(args=["list-centres"]).output.splitlines() == ["C001\t广州鉴定中心\t广州"]
    units = runner.invoke(args=["list-units"]).output.splitlines()
    assert [line.split("\t")[0] for line in units] == ["U0001", "U0002"]
    assert units[0] == "U0001\t广州保安学校\t广州\t广州鉴定中心\t5,4\t粤001"
    assert runner.invoke(args=["list-units", "--centre", "C001"]).output.splitlines() == units[:1]

    created = runner.invoke(args=["create-user", "zhang", "--role", "centre_staff", "--organisation", "C001",
                                  "--password", STRONG])
    assert created.exit_code == 0 and "鉴定中心 广州鉴定中心（C001）" in created.output, created.output
    centre = session.scalar(select(Centre))
    assert session.scalar(select(User).where(User.username == "zhang")).organisation_id == centre.id
    nowhere = runner.invoke(args=["create-user", "li", "--role", "pilot_unit", "--organisation", "XX",
                                  "--password", STRONG])
    assert nowhere.exit_code == 1 and "所属机构：没有编号或名称为“XX”的机构" in nowhere.output
    assert session.scalar(select(User).where(User.username == "li")) is None
    city = runner.invoke(args=["create-user", "li", "--role", "pilot_unit", "--organisation", "CY001",
                               "--password", STRONG])
    assert city.exit_code == 1 and "是城市" in city.output
    assert runner.invoke(args=["create-user", "li", "--role", "pilot_unit", "--password", STRONG]).exit_code == 0
    moved = runner.invoke(args=["users", "set-organisation", "li", "--organisation", "U0001"])
    assert moved.exit_code == 0 and "试点单位 广州保安学校（U0001）" in moved.output
    listed = runner.invoke(args=["users", "list", "--organisation", "U0001"]).output.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["li"] and listed[0].endswith("试点单位 广州保安学校（U0001）")
    assert ("cli:users set-organisation", "user.organisation_changed") in {
        (a.actor, a.action) for a in session.scalars(select(AuditEvent))}

    site = runner.invoke(args=["create-site", "GZ01", "广州考点", "--centre", "C001", "--filing-number", "粤考备001"])
    assert site.exit_code == 0, site.output
    row = session.scalar(select(Site).where(Site.code == "GZ01"))
    assert row.centre_id == centre.id and row.filing_number == "粤考备001"
    twice = runner.invoke(args=["create-site", "GZ02", "另一考点", "--filing-number", "粤考备001"])
    assert twice.exit_code == 1 and "备案编号：粤考备001 已是考点 广州考点（GZ01）的备案编号" in twice.output
    changed = runner.invoke(args=["update-site", "GZ01", "--filing-number", "粤考备002"])
    assert changed.exit_code == 0 and "粤考备002" in changed.output

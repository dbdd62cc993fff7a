"""A small province for the application tests: one centre, two pilot units, their staff, level 5 open today."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from exam_server.applications import operations as ops
from exam_server.applications.idcard import make_id_number
from exam_server.applications.intake import local_today

PASSWORD = "pw-staff"


@dataclass
class World:
    session: Session
    today: dt.date
    unit1: Any
    unit2: Any
    centre: Any
    users: dict[str, Any]

    def row(self, n: int = 1, **over: Any) -> dict[str, Any]:
        """A valid level-5 application row for person `n` through unit 1 (保安员证 issued 5 years ago)."""
        row = {
            "姓名": f"张{n}", "身份证号": make_id_number("440106", dt.date(1990, 1, 1) + dt.timedelta(days=n), 11 + 2 * n),
            "性别": "男", "手机号": f"138{n:08d}", "工作单位": "某保安服务公司", "保安员证编号": f"GD{n:06d}",
            "保安员证发证日期": (self.today - dt.timedelta(days=5 * 366)).isoformat(), "申报等级": "初级保安员",
            "培训单位": self.unit1.name,
        }
        row.update(over)
        return row

    def login(self, client: FlaskClient, username: str) -> str:
        from conftest import csrf_token_from

        token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
        response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return token


@pytest.fixture
def world(app: Flask, session: Session) -> World:
    from exam_server.core.models import User
    from exam_server.core.security import hash_password
    from exam_server.organisations.models import Centre, City, PilotUnit, Province

    province = Province(code="P", name="广东省")
    session.add(province)
    session.flush()
    city = City(code="CY1", name="广州市", parent_id=province.id)
    session.add(city)
    session.flush()
    centre = Centre(code="C1", name="广州鉴定中心", parent_id=city.id)
    session.add(centre)
    session.flush()
    unit1 = PilotUnit(code="U1", name="广州保安培训学校", parent_id=city.id, centre_id=centre.id, levels=[5, 4])
    unit2 = PilotUnit(code="U2", name="番禺保安培训中心", parent_id=city.id, centre_id=centre.id, levels=[5])
    session.add_all([unit1, unit2])
    session.flush()
    users = {}
    for username, roles, org in (("unit1", ["pilot_unit"], unit1), ("unit2", ["pilot_unit"], unit2),
                                 ("centre", ["centre_staff"], centre), ("prov", ["province"], province),
                                 ("police", ["police"], None), ("author", ["author"], None)):
        user = User(username=username, display_name=username, roles=roles, organisation_id=org.id if org else None,
                    password_hash=hash_password(PASSWORD, "low"))
        session.add(user)
        users[username] = user
    session.commit()
    today = local_today()
    ops.open_window(session, level=5, part="theory", opens_on=today - dt.timedelta(days=10),
                    closes_on=today + dt.timedelta(days=10), exam_on=today + dt.timedelta(days=30), actor="cli:test")
    ops.open_window(session, level=5, part="skill", opens_on=today - dt.timedelta(days=10),
                    closes_on=today + dt.timedelta(days=10), exam_on=today + dt.timedelta(days=30), actor="cli:test")
    return World(session, today, unit1, unit2, centre, users)

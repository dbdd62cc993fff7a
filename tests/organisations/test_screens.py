"""The screens, by organisation: a centre's staff see and change their own centre's sites, rooms, sittings, results
and units, and are refused another centre's (403, in Chinese); a unit sees itself; the province keeps the
organisations; the police only read."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.organisations.models import Centre, PilotUnit
from exam_server.sessions.models import Site

PASSWORD = "pw-organisations"


def login(app: Flask, username: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, token


@pytest.fixture
def staff_a(app: Flask, world: Any, make_account: Callable[..., Any]) -> tuple[FlaskClient, str]:
    make_account("staff_a", ["centre_staff"], world.centre_a.id)
    return login(app, "staff_a")


def test_centre_staff_see_their_centre_and_are_refused_another(
    app: Flask, session: Session, world: Any, staff_a: tuple[FlaskClient, str]
) -> None:
    client, token = staff_a
    sites = client.get("/centre/sites").get_data(as_text=True)
    assert "广州考点" in sites and "GD-001" in sites and "深圳考点" not in sites
    sittings = client.get("/staff/sessions").get_data(as_text=True)
    assert "S-GZ" in sittings and "S-SZ" not in sittings
    assert client.get(f"/staff/sessions/{world.sitting_a.id}").status_code == 200
    outside = [
        ("GET", f"/staff/sessions/{world.sitting_b.id}"),
        ("GET", f"/centre/sessions/{world.sitting_b.id}/seating"),
        ("GET", f"/results/sessions/{world.sitting_b.id}"),
        ("POST", f"/centre/sites/{world.site_b.id}"),
        ("POST", f"/centre/sites/{world.site_b.id}/rooms"),
        ("POST", f"/centre/rooms/{world.room_b.id}/seats"),
        ("POST", f"/centre/rooms/{world.room_b.id}/proctor"),
        ("GET", f"/organisations/{world.centre_b.id}"),
        ("GET", f"/organisations/{world.unit_b.id}"),
        ("POST", f"/organisations/{world.unit_b.id}"),
    ]
    for method, url in outside:
        response = client.open(url, method=method, data={"csrf_token": token, "seats": "9", "code": "02",
                                                          "name": "越界", "filing_number": "X"})
        assert response.status_code == 403, (method, url, response.status_code)
        assert "不属于您所在的机构" in response.get_data(as_text=True), (method, url)
    session.expire_all()
    assert session.get(Site, world.site_b.id).filing_number == "GD-002"
    assert len(world.room_b.seats) == 3 and len(world.site_b.rooms) == 1


def test_centre_staff_keep_their_sites_and_units(
    app: Flask, session: Session, world: Any, staff_a: tuple[FlaskClient, str]
) -> None:
    client, token = staff_a
    created = client.post("/centre/sites", data={"csrf_token": token, "code": "GZ02", "name": "广州第二考点",
                                                 "filing_number": "GD-003"})
    assert created.status_code == 302
    site = session.scalar(select(Site).where(Site.code == "GZ02"))
    assert site.centre_id == world.centre_a.id and site.filing_number == "GD-003"  # their own centre by default
    taken = client.post(f"/centre/sites/{site.id}", data={"csrf_token": token, "name": "广州第二考点",
                                                          "filing_number": "GD-002"})
    assert taken.status_code == 400 and "备案编号：GD-002 已是考点 深圳考点" in taken.get_data(as_text=True)
    elsewhere = client.post("/centre/sites", data={"csrf_token": token, "code": "GZ03", "name": "越界考点",
                                                   "centre_id": str(world.centre_b.id)})
    assert elsewhere.status_code == 403
    assert session.scalar(select(Site).where(Site.code == "GZ03")) is None

    unit = client.post("/organisations/units", data={"csrf_token": token, "name": "广州第三保安学校", "city": "广州",
                                                     "licence_number": "粤A009", "levels": ["5", "4"]})
    assert unit.status_code == 302
    made = session.scalar(select(PilotUnit).where(PilotUnit.name == "广州第三保安学校"))
    assert made.centre_id == world.centre_a.id and made.levels == [5, 4]
    bad = client.post(f"/organisations/{world.unit_a.id}", data={"csrf_token": token, "name": "",
                                                                 "city": "广州", "centre": "CA"})
    assert bad.status_code == 400 and "名称：必须填写" in bad.get_data(as_text=True)
    # Cities and centres are the province's.
    assert client.post("/organisations/centres", data={"csrf_token": token, "name": "X", "city": "Y"}).status_code == 403
    page = client.get("/organisations").get_data(as_text=True)
    assert "广州保安培训学校" in page and "深圳保安培训学校" not in page and "深圳鉴定中心" not in page


def test_a_unit_sees_itself_only(app: Flask, world: Any, make_account: Callable[..., Any]) -> None:
    make_account("unit_a", ["pilot_unit"], world.unit_a.id)
    client, token = login(app, "unit_a")
    page = client.get("/organisations").get_data(as_text=True)
    assert "广州保安培训学校" in page and "深圳保安培训学校" not in page
    assert client.get(f"/organisations/{world.unit_a.id}").status_code == 200
    assert client.get(f"/organisations/{world.unit_b.id}").status_code == 403
    assert client.post(f"/organisations/{world.unit_a.id}", data={"csrf_token": token, "name": "改名"}).status_code == 403
    assert client.get("/centre/sites").status_code == 403


def test_the_province_keeps_organisations_and_the_police_read(
    app: Flask, session: Session, world: Any, make_account: Callable[..., Any]
) -> None:
    make_account("prov", ["province"])
    make_account("police", ["police"])
    make_account("newbie", ["centre_staff"])
    province, token = login(app, "prov")
    assert province.post("/organisations/centres", data={"csrf_token": token, "name": "珠海鉴定中心",
                                                         "city": "珠海"}).status_code == 302
    centre = session.scalar(select(Centre).where(Centre.name == "珠海鉴定中心"))
    assert centre.parent.name == "珠海"
    member = province.post(f"/organisations/{centre.id}/members", data={"csrf_token": token, "username": "newbie"})
    assert member.status_code == 302
    assert "newbie" in province.get(f"/organisations/{centre.id}").get_data(as_text=True)
    every = province.get("/centre/sites").get_data(as_text=True)
    assert "广州考点" in every and "深圳考点" in every

    police, ptoken = login(app, "police")
    assert {"S-GZ", "S-SZ"} <= set(re.findall(r"S-[A-Z]{2}", police.get("/staff/sessions").get_data(as_text=True)))
    page = police.get("/centre/sites").get_data(as_text=True)
    assert "深圳考点" in page and "修改考点" not in page and "新增考点" not in page
    for url in ("/organisations/centres", "/organisations/units", "/centre/sites", f"/organisations/{centre.id}"):
        assert police.post(url, data={"csrf_token": ptoken, "name": "X", "city": "Y"}).status_code == 403, url


def test_a_room_is_staffed_with_the_centres_own_proctors(
    app: Flask, session: Session, world: Any, make_account: Callable[..., Any], staff_a: tuple[FlaskClient, str]
) -> None:
    client, token = staff_a
    own = make_account("proctor_a", ["proctor"], world.centre_a.id)
    other = make_account("proctor_b", ["proctor"], world.centre_b.id)
    page = client.get("/centre/sites").get_data(as_text=True)
    assert "proctor_a" in page and "proctor_b" not in page
    refused = client.post(f"/centre/rooms/{world.room_a.id}/proctor", data={"csrf_token": token, "user_id": other.id})
    assert refused.status_code == 403 and "监考员账号不属于您所在的机构" in refused.get_data(as_text=True)
    done = client.post(f"/centre/rooms/{world.room_a.id}/proctor", data={"csrf_token": token, "user_id": own.id})
    assert done.status_code == 302
    session.expire_all()
    assert own.room_id == world.room_a.id and other.room_id is None

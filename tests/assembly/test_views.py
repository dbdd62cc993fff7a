"""The blueprint editor, assembly, review, plot, lock and order screens through the test client."""

from __future__ import annotations

import re

import pytest
from assembly_bank import rich_bank, small_spec
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.blueprints import create_blueprint, spec_of
from item_bank.forms import approve_form
from item_bank.models import Blueprint, Form

PASSWORD = "pw-manager-1"


def csrf_token_from(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def login(client: FlaskClient, session: Session, roles: list[str]) -> str:
    from exam_server.core.models import User
    from exam_server.core.security import hash_password

    name = "mgr" + "".join(r[0] for r in roles)
    session.add(
        User(
            username=name,
            display_name="题库管理员",
            roles=roles,
            password_hash=hash_password(PASSWORD, "low"),
        )
    )
    session.commit()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return token


def editor_data(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "name": "网页蓝图",
        "level": "5",
        "part": "theory",
        "duration_min": "30",
        "pass_mark": "60",
        "sec-0-type": "judge",
        "sec-0-count": "4",
        "sec-0-points": "1",
        "sec-0-rule": "exact",
        "sec-0-order": "1",
        "sec-0-shuffle_items": "on",
        "sec-1-type": "single",
        "sec-1-count": "4",
        "sec-1-points": "1",
        "sec-1-rule": "exact",
        "sec-1-order": "2",
        "sec-1-shuffle_items": "on",
        "sec-1-shuffle_options": "on",
        "sec-2-type": "multiple",
        "sec-2-count": "2",
        "sec-2-points": "2",
        "sec-2-rule": "all_or_nothing",
        "sec-2-order": "3",
        "area-A01": "50",
        "area-A02": "50",
        "area_tolerance": "5",
        "max_overlap": "10",
        "same_stem_enemies": "on",
        "item_sets_allowed": "on",
        "spread_types": "on",
        "enemy_groups": "T-00001 T-00002",
    }
    data.update(overrides)
    return data


def test_pages_need_the_bank_manager(app: Flask, client: FlaskClient, session: Session) -> None:
    assert client.get("/assembly/blueprints").status_code in (302, 401)
    login(client, session, ["proctor"])
    assert client.get("/assembly/blueprints").status_code == 403


def test_write_blueprint_in_browser_assemble_review_lock(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    rich_bank(session)
    token = login(client, session, ["bank_manager"])
    page = client.get("/assembly/blueprints/new").get_data(as_text=True)
    assert "知识点比重" in page and "题型部分" in page
    bad = client.post(
        "/assembly/blueprints/new", data=editor_data(token, **{"sec-0-count": "-2", "area-A01": "90"})
    )
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "sections[0].count" in text and "area_shares" in text
    ok = client.post("/assembly/blueprints/new", data=editor_data(token))
    assert ok.status_code == 302
    bp = session.scalar(select(Blueprint).where(Blueprint.name == "网页蓝图"))
    spec = spec_of(bp)
    assert [s.type for s in spec.sections] == ["judge", "single", "multiple"]
    assert spec.sections[2].scoring_rule == "all_or_nothing" and spec.sections[0].shuffle_options is False
    assert spec.area_shares == {"A01": 0.5, "A02": 0.5} and spec.area_tolerance == pytest.approx(0.05)
    assert spec.enemy_groups == [["T-00001", "T-00002"]] and spec.spread_types
    detail = client.get(f"/assembly/blueprints/{bp.id}").get_data(as_text=True)
    assert 'id="supply"' in detail and "开始组卷" in detail
    done = client.post(
        f"/assembly/blueprints/{bp.id}/assemble",
        data={"csrf_token": token, "forms": "2", "time_limit": "20", "seed": "3"},
    )
    assert done.status_code == 302
    forms = session.scalars(select(Form).where(Form.blueprint_id == bp.id).order_by(Form.code)).all()
    assert len(forms) == 2
    review = client.get(f"/assembly/forms/{forms[0].id}").get_data(as_text=True)
    for part in (
        'id="composition"',
        'id="overlap"',
        'id="enemies"',
        "最优性差距",
        "plot.png",
        "满足蓝图的全部要求",
    ):
        assert part in review, part
    png = client.get(f"/assembly/forms/{forms[0].id}/plot.png")
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"
    approve_form(session, forms[0], "user:another-manager")
    session.commit()
    locked = client.post(f"/assembly/forms/{forms[0].id}/lock", data={"csrf_token": token, "confirm": "yes"})
    assert locked.status_code == 302
    session.refresh(forms[0])
    assert forms[0].status == "locked"
    again = client.post(f"/assembly/forms/{forms[0].id}/approve", data={"csrf_token": token})
    assert again.status_code == 409 and "已锁定" in again.get_data(as_text=True)
    order_a = client.get(f"/assembly/forms/{forms[0].id}/order?seed=77").get_data(as_text=True)
    order_b = client.get(f"/assembly/forms/{forms[0].id}/order?seed=77").get_data(as_text=True)
    rows = lambda html: re.findall(r"<tr><td class=\"num\">\d+</td>.*?</tr>", html, re.S)  # noqa: E731
    assert rows(order_a) == rows(order_b) and len(rows(order_a)) == 10


def test_infeasible_blueprint_shows_the_shortage(app: Flask, client: FlaskClient, session: Session) -> None:
    rich_bank(session, per_cell=1)
    bp = create_blueprint(session, small_spec(), "t")
    session.commit()
    token = login(client, session, ["bank_manager"])
    response = client.post(f"/assembly/blueprints/{bp.id}/assemble", data={"csrf_token": token, "forms": "1"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "无法组成试卷" in text and "判断题" in text and "只有 2 道" in text


def test_text_editing_and_import(app: Flask, client: FlaskClient, session: Session) -> None:
    token = login(client, session, ["bank_manager"])
    from item_bank.blueprints import dumps_spec

    imported = client.post(
        "/assembly/blueprints/import", data={"csrf_token": token, "text": dumps_spec(small_spec())}
    )
    assert imported.status_code == 302
    bp = session.scalar(select(Blueprint))
    bad = client.post(
        f"/assembly/blueprints/{bp.id}/text", data={"csrf_token": token, "text": "name: x\nlevel: 9\n"}
    )
    assert bad.status_code == 400 and "level" in bad.get_data(as_text=True)
    yaml_text = client.get(f"/assembly/blueprints/{bp.id}/export.yaml").get_data(as_text=True)
    good = client.post(
        f"/assembly/blueprints/{bp.id}/text",
        data={"csrf_token": token, "text": yaml_text.replace("area_tolerance: 0.05", "area_tolerance: 0.1")},
    )
    assert good.status_code == 302
    session.refresh(bp)
    assert spec_of(bp).area_tolerance == 0.1


def test_editor_grid_and_rules_speak_the_file_language(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    rich_bank(session)
    token = login(client, session, ["bank_manager"])
    data = editor_data(
        token,
        **{"grid-A01-识记": "2", "grid-A02-应用": "1", "grid_tolerance": "1"},
        language="rules:\n- {area: A01, type: judge, min: 1, max: 3}\nexclude:\n- {field: p, op: '>', value: 0.97}\n",
    )
    response = client.post("/assembly/blueprints/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    spec = spec_of(session.scalars(select(Blueprint)).one())
    assert spec.grid is not None and spec.grid.cells == {"A01": {"识记": 2.0}, "A02": {"应用": 1.0}}
    assert spec.rules[0].words() == "知识点「A01」 × 判断题每份 1–3 道" and spec.exclude[0].value == 0.97
    page = client.get(response.headers["Location"].replace("/blueprints/", "/blueprints/") + "/edit")
    html = page.get_data(as_text=True)
    assert 'id="grid"' in html and 'name="grid-A01-识记"' in html and "field: p" in html
    bad = client.post("/assembly/blueprints/new", data=editor_data(token, name="坏", language="rules: [\n"))
    assert bad.status_code == 400 and "YAML 格式错误" in bad.get_data(as_text=True)
    weights = client.post(
        "/assembly/blueprints/new",
        data=editor_data(token, name="比重", **{"area-A01": "60", "area-A02": "50"}),
    )
    assert weights.status_code == 400 and "比重合计 110%" in weights.get_data(as_text=True)


def test_lock_in_the_browser_needs_confirmation(app: Flask, client: FlaskClient, session: Session) -> None:
    from item_bank.assembly import assemble_forms

    rich_bank(session)
    form = assemble_forms(session, create_blueprint(session, small_spec(), "t"), 1, time_limit_s=20).forms[0]
    approve_form(session, form, "user:another-manager")
    session.commit()
    token = login(client, session, ["bank_manager"])
    page = client.get(f"/assembly/forms/{form.id}").get_data(as_text=True)
    assert 'name="confirm"' in page and "审核通过并锁定" not in page
    client.post(f"/assembly/forms/{form.id}/lock", data={"csrf_token": token})
    session.refresh(form)
    assert form.status == "approved"

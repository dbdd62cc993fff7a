"""The bank's screens as a manager and an author found them: attributes in the editor and the search, sets of
one type, bulk approval refused in Chinese naming the item, and words combined in a search."""

from __future__ import annotations

import json
import re

import pytest
from flask import url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from item_bank.attributes import define_attribute
from item_bank.audit import AuditEvent
from item_bank.models import AttributeDefinition, Item, ItemSet, ItemVersion

PASSWORD = "pw-bank"
ROLES = {"author": ["author"], "reviewer": ["reviewer"], "manager": ["bank_manager"]}
FIRE = {
    "type": "single",
    "stem": "发现火情应当首先（ ）。",
    "options": ["逃离", "报警", "围观"],
    "key": "B",
    "levels": [5],
}


@pytest.fixture
def staff(session: Session) -> dict[str, int]:
    ids = {}
    for username, roles in ROLES.items():
        user = User(
            username=username,
            display_name=username,
            password_hash=hash_password(PASSWORD, "low"),
            roles=roles,
        )
        session.add(user)
        session.flush()
        ids[username] = user.id
    define_attribute(session, name="scene", label="情景", values=["日间", "夜间"], actor="t")
    session.commit()
    return ids


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


def login(client: FlaskClient, username: str) -> str:
    with client.session_transaction() as s:
        s.clear()
    token = _csrf(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return _csrf(client.get("/bank/items").get_data(as_text=True))


def api(client: FlaskClient, token: str, url: str, body: object) -> tuple[int, dict]:
    response = client.post(url, json=body, headers={"X-CSRFToken": token})
    return response.status_code, response.get_json()


def test_the_editor_writes_the_cognitive_level_and_attributes_and_search_finds_them(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    page = client.get("/bank/items/new").get_data(as_text=True)
    assert 'name="cognitive_level"' in page and 'name="attr:scene"' in page and "夜间" in page
    form = {
        "csrf_token": token, "type": "single", "stem": "夜间巡逻发现可疑人员应当（ ）。", "option": ["询问并报告", "驱赶"],
        "key": "A", "points": "1", "levels": "5", "part": "theory", "cognitive_level": "应用", "attr:scene": "夜间",
        "submit": "0",
    }  # fmt: skip
    assert client.post("/bank/items", data=form).status_code == 302
    version = session.scalar(select(ItemVersion))
    assert version is not None and (version.cognitive_level, version.attributes) == (
        "应用",
        {"scene": "夜间"},
    )
    item = session.get(Item, version.item_id)
    assert item is not None
    detail = client.get(f"/bank/items/{item.external_id}").get_data(as_text=True)
    assert "认知层次" in detail and "夜间" in detail
    assert item.external_id in client.get("/bank/items?cognitive=应用").get_data(as_text=True)
    assert item.external_id not in client.get("/bank/items?cognitive=识记").get_data(as_text=True)
    # A value outside the definition is refused with the field named.
    bad = dict(form, **{"attr:scene": "凌晨"})
    response = client.post("/bank/items", data=bad)
    assert response.status_code == 422 and "情景“凌晨”不是定义中的取值" in response.get_data(as_text=True)
    status, body = api(client, token, "/bank/api/preview", dict(FIRE, attributes={"scene": "凌晨"}))
    assert status == 200 and any(p["field"] == "attributes" for p in body["problems"])


def test_a_set_of_two_types_is_named_while_writing(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    client.post(
        "/bank/sets", data={"csrf_token": token, "title": "夜巡", "stimulus": "某小区夜间……", "media": "[]"}
    )
    item_set = session.scalar(select(ItemSet))
    assert item_set is not None
    status, _ = api(client, token, "/bank/api/items", dict(FIRE, item_set_id=item_set.id))
    assert status == 201
    judge = {
        "type": "judge",
        "stem": "保安员可以扣留司机。",
        "options": ["正确", "错误"],
        "key": "B",
        "item_set_id": item_set.id,
    }
    status, body = api(client, token, "/bank/api/preview", judge)
    problems = [p for p in body["problems"] if p["field"] == "item_set_id"]
    assert not problems  # a paper may still deliver it; the author is told assembly will not
    (warning,) = body["warnings"]
    assert (
        "其他子题是单选题，本题是判断题" in warning["reason"] and "自动组卷时不会被选用" in warning["reason"]
    )
    status, body = api(client, token, "/bank/api/items", judge)
    assert status == 201 and "自动组卷时不会被选用" in json.dumps(body["warnings"], ensure_ascii=False)
    form = {"csrf_token": token, "type": "judge", "stem": "保安员可以搜身。", "option": ["正确", "错误"], "key": "B",
            "points": "1", "levels": "5", "part": "theory", "item_set_id": str(item_set.id), "submit": "0"}  # fmt: skip
    response = client.post("/bank/items", data=form)
    assert "自动组卷时不会被选用" in client.get(response.location).get_data(as_text=True)


def test_bulk_approval_refusals_are_chinese_and_name_the_item(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    status, _ = api(client, token, "/bank/api/items", FIRE)
    assert status == 201
    version = session.scalar(select(ItemVersion))
    assert version is not None
    item = session.get(Item, version.item_id)
    assert item is not None
    client.post(f"/bank/versions/{version.id}/submit", data={"csrf_token": token})
    session.expire_all()
    assert session.get(ItemVersion, version.id).status == "in_review"  # type: ignore[union-attr]
    token = login(client, "manager")
    response = client.post(
        "/bank/review/bulk", data={"csrf_token": token, "action": "approve", "version_id": [str(version.id)]}
    )
    page = client.get(response.location).get_data(as_text=True)
    assert "审核通过需要审题人角色" in page and "reviewer" not in page.split("<main", 1)[-1]
    assert f"版本 {version.id}：" not in page


def _menu(page: str) -> str:
    match = re.search(r'<nav class="nav">(.*?)</nav>', page, re.S)
    assert match
    return match.group(1)


def test_the_bank_and_assembly_menus_lead_to_assembly_and_analysis(
    client: FlaskClient, staff: dict[str, int]
) -> None:
    login(client, "manager")
    bank_menu = _menu(client.get("/bank/items").get_data(as_text=True))
    assert ">组卷蓝图</a>" in bank_menu and ">试题分析</a>" in bank_menu
    assembly_menu = _menu(client.get("/assembly/blueprints").get_data(as_text=True))
    assert ">试题分析</a>" in assembly_menu
    login(client, "author")  # an author reaches neither, so is offered neither
    assert "试题分析" not in _menu(client.get("/bank/items").get_data(as_text=True))


def test_the_preview_numbers_fill_in_blanks_and_shows_a_stimulus_whole(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    fill = {
        "type": "fill",
        "stem": "火警电话是（ ），急救电话是（ ）。",
        "key": [["119"], ["120"]],
        "levels": [5],
    }
    status, body = api(client, token, "/bank/api/items", fill)
    assert status == 201
    page = client.get(f"/bank/items/{body['id']}").get_data(as_text=True)
    assert (
        '<span class="blank-number">第 1 空</span>' in page
        and '<span class="blank-number">第 2 空</span>' in page
    )
    with client.application.test_request_context():
        css_url = url_for("core.client_asset", filename="bank/bank.css")
    style = client.get(css_url).get_data(as_text=True)
    assert ".q-stimulus { max-height: none; overflow: visible; }" in style


def test_the_manager_defines_and_edits_attributes_on_a_screen_without_stranding_stored_values(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    author = login(client, "author")
    status, _ = api(client, author, "/bank/api/items", dict(FIRE, attributes={"scene": "夜间"}))
    assert status == 201
    external_id = session.scalar(select(Item.external_id))
    # Only the bank manager reaches the screen and its form.
    assert client.get("/bank/attributes").status_code == 403
    assert client.post("/bank/attributes", data={"csrf_token": author, "name": "x", "values": "a"}).status_code == 403
    token = login(client, "manager")
    assert 'href="/bank/attributes"' in client.get("/bank/items").get_data(as_text=True)
    page = client.get("/bank/attributes").get_data(as_text=True)
    assert "情景" in page and "夜间：1 道题" in page and "built-in method" not in page
    # A new enumerated attribute (values separated as an office types them) and a number with bounds.
    new = {"csrf_token": token, "name": "format", "label": "题型形式", "kind": "enum", "values": "文字、图片\n视频"}
    assert client.post("/bank/attributes", data=new).status_code == 302
    depth = {"csrf_token": token, "name": "dok", "label": "知识深度", "kind": "number", "min": "1", "max": "4"}
    assert client.post("/bank/attributes", data=depth).status_code == 302
    rows = {d.name: d for d in session.scalars(select(AttributeDefinition))}
    assert rows["format"].values == ["文字", "图片", "视频"] and rows["dok"].values == {"min": 1.0, "max": 4.0}
    # Removing a value a stored version carries is refused, naming the value and the item; nothing changes.
    drop = {"csrf_token": token, "name": "scene", "label": "情景", "kind": "enum", "values": "日间"}
    refused = client.post("/bank/attributes", data=drop)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "夜间" in text and external_id in text and "未修改" in text
    session.expire_all()
    assert session.scalar(select(AttributeDefinition.values).where(AttributeDefinition.name == "scene")) == [
        "日间",
        "夜间",
    ]
    # Relabelling and adding a value keep the stored one: saved and audited.
    relabel = dict(drop, label="场景", values="日间\n夜间\n凌晨")
    assert client.post("/bank/attributes", data=relabel).status_code == 302
    session.expire_all()
    scene = session.scalar(select(AttributeDefinition).where(AttributeDefinition.name == "scene"))
    assert scene is not None and (scene.label, scene.values) == ("场景", ["日间", "夜间", "凌晨"])
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "attribute.define")).all()
    assert any(e.actor == "user:manager" and (e.before or {}).get("label") == "情景" for e in events)

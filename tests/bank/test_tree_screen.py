"""The knowledge tree as whole files on the bank's tree screen: Excel/JSON downloads for everyone in the bank, an
import for the bank manager as a job whose dry run names every bad row and changes nothing until confirmed."""

from __future__ import annotations

import io
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from job_routes import job_of
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.jobs import Job
from item_bank.audit import AuditEvent
from item_bank.models import KnowledgeArea
from item_bank.tree import create_area

PASSWORD = "pw-tree"
ROLES = {"author": ["author"], "manager": ["bank_manager"], "other": ["bank_manager"], "proctor": ["proctor"]}


@pytest.fixture
def staff(session: Session) -> None:
    for username, roles in ROLES.items():
        session.add(User(username=username, display_name=username, password_hash=hash_password(PASSWORD, "low"),
                         roles=roles))  # fmt: skip
    root = create_area(session, level=5, part="theory", code="1", name="职业道德", kind="基本要求", actor="t")
    create_area(session, level=5, part="theory", code="1.1", name="职业守则", kind="知识点", parent_id=root.id,
                actor="t")  # fmt: skip
    session.commit()


def login(client: FlaskClient, username: str) -> str:
    with client.session_transaction() as s:
        s.clear()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD,
                                                 "csrf_token": token.group(1)})  # fmt: skip
    assert response.status_code == 302
    return token.group(1)


def upload(client: FlaskClient, token: str, name: str, data: bytes) -> object:
    return client.post("/bank/tree/import", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")  # fmt: skip


def test_the_tree_screen_exports_and_imports_whole_trees(app: Flask, session: Session, staff: None) -> None:
    client = app.test_client()
    token = login(client, "author")
    page = client.get("/bank/tree").get_data(as_text=True)
    assert 'action="/bank/tree/export"' in page and "/bank/tree/import" not in page
    sheet = client.get("/bank/tree/export?level=5&part=theory&format=xlsx")
    assert sheet.status_code == 200 and "attachment" in sheet.headers["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert rows[0][:6] == ("等级", "科目", "代码", "名称", "类别", "上级代码") and rows[2][2:6] == (
        "1.1", "职业守则", "知识点", "1")  # fmt: skip
    doc = json.loads(client.get("/bank/tree/export?all=1&format=json").data)
    assert [a["code"] for a in doc["trees"][0]["areas"]] == ["1", "1.1"]
    # An author may read the tree but not import one.
    assert upload(client, token, "t.json", b"{}").status_code == 403

    token = login(client, "manager")
    assert "/bank/tree/import" in client.get("/bank/tree").get_data(as_text=True)
    areas = doc["trees"][0]["areas"]
    bad = {"format": doc["format"], "version": 1, "trees": [{"level": 5, "part": "theory", "areas": [
        *areas, {"code": "1.2", "name": "", "kind": "知识点", "parent": "1"},
        {"code": "2.1", "name": "巡逻", "kind": "知识点", "parent": "9"},
    ]}]}  # fmt: skip
    dry = job_of(session, upload(client, token, "bad.json", json.dumps(bad).encode()), "bank.tree_import")
    assert dry.result["ok"] is False and dry.result["problem_count"] == 2
    report = client.get(f"/bank/tree/imports/{dry.id}").get_data(as_text=True)
    assert "预检未通过" in report and "名称" in report and "上级代码 9" in report
    assert session.scalar(select(func.count()).select_from(KnowledgeArea)) == 2

    good = dict(bad, trees=[{"level": 5, "part": "theory", "areas": [
        *areas, {"code": "1.2", "name": "职业纪律", "kind": "知识点", "parent": "1"}]}])  # fmt: skip
    dry = job_of(session, upload(client, token, "good.json", json.dumps(good).encode()), "bank.tree_import")
    assert dry.result["ok"] is True and dry.result["created"] == 1 and dry.result["unchanged"] == 2
    assert session.scalar(select(func.count()).select_from(KnowledgeArea)) == 2  # a dry run keeps nothing
    report = client.get(f"/bank/tree/imports/{dry.id}").get_data(as_text=True)
    assert "预检通过" in report and "确认导入" in report
    # Only its uploader confirms; another manager is refused.
    other = app.test_client()
    other_token = login(other, "other")
    assert other.post(f"/bank/tree/imports/{dry.id}/confirm", data={"csrf_token": other_token}).status_code in (
        403, 404)  # fmt: skip
    done = job_of(session, client.post(f"/bank/tree/imports/{dry.id}/confirm", data={"csrf_token": token}),
                  "bank.tree_import")  # fmt: skip
    assert done.result["created"] == 1 and done.result["dry_run"] is False
    session.expire_all()
    assert session.scalar(select(KnowledgeArea.name).where(KnowledgeArea.code == "1.2")) == "职业纪律"
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "tree.import")) == 1
    # A second confirmation finds no file.
    again = client.post(f"/bank/tree/imports/{dry.id}/confirm", data={"csrf_token": token})
    assert again.status_code == 409


def test_other_roles_are_refused_the_tree_files(app: Flask, session: Session, staff: None) -> None:
    client = app.test_client()
    token = login(client, "proctor")
    assert client.get("/bank/tree/export?format=json").status_code == 403
    before = session.scalar(select(func.count(Job.id)))
    data = {"csrf_token": token, "file": (io.BytesIO(b"{}"), "t.json")}
    assert client.post("/bank/tree/import", data=data, content_type="multipart/form-data").status_code in (
        302, 403)  # fmt: skip
    assert session.scalar(select(func.count(Job.id))) == before
    assert app.test_client().get("/bank/tree/export?format=json").status_code in (302, 401)

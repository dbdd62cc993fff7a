"""The bank's screens and JSON API: authors write, reviewers approve, managers edit the tree, all through HTTP."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from bank_seed import import_approved
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.bank.operations import seed_standard_tree
from exam_server.core.models import User
from exam_server.core.security import hash_password
from item_bank.audit import AuditEvent
from item_bank.db import Base
from item_bank.models import Item, ItemVersion, KnowledgeArea, MediaFile

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

PASSWORD = "pw-bank"
ROLES = {"author": ["author"], "author2": ["author"], "reviewer": ["reviewer"], "manager": ["bank_manager"]}


@pytest.fixture
def staff(session: Session) -> dict[str, int]:
    ids = {}
    for username, roles in ROLES.items():
        user = User(username=username, display_name=f"{username} 老师", password_hash=hash_password(PASSWORD, "low"),
                    roles=roles)  # fmt: skip
        session.add(user)
        session.flush()
        ids[username] = user.id
    session.commit()
    return ids


@pytest.fixture
def standard_tree(session: Session) -> None:
    """The shipped knowledge tree, as a bank manager (or the first import) creates it."""
    seed_standard_tree(session, "test")


def csrf_token_from(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def login(client: FlaskClient, username: str) -> str:
    with client.session_transaction() as s:
        s.clear()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token_from(client.get("/bank/items").get_data(as_text=True))


def api(client: FlaskClient, token: str, method: str, url: str, body: object) -> tuple[int, dict]:
    response = client.open(url, method=method, json=body, headers={"X-CSRFToken": token})
    return response.status_code, response.get_json()


FIRE = {
    "type": "single",
    "stem": "发现火情应当首先（ ）。",
    "options": ["逃离", "报警", "围观"],
    "key": "B",
    "levels": [5],
    "points": 1,
}


def test_author_writes_reviewer_approves_through_screens(
    client: FlaskClient, session: Session, staff: dict[str, int], standard_tree: None
) -> None:
    token = login(client, "author")
    page = client.get("/bank/items/new").get_data(as_text=True)
    assert "新建试题" in page and "预览" in page
    fire = session.scalar(select(KnowledgeArea).where(KnowledgeArea.name == "消防安全"))
    assert fire is not None
    form = {
        "csrf_token": token, "type": "single", "stem": "发现火情应当首先（ ）。", "option": ["逃离", "报警", "围观", ""],
        "key": "B", "points": "1", "levels": "5", "part": "theory", "knowledge_area_id": str(fire.id), "submit": "1",
    }  # fmt: skip
    response = client.post("/bank/items", data=form)
    assert response.status_code == 302
    item = session.scalar(select(Item))
    assert item is not None
    version = item.versions[0]
    assert (version.status, version.author_id, version.options) == (
        "in_review",
        staff["author"],
        ["逃离", "报警", "围观"],
    )

    # A bad edit is refused with the field named, and nothing is stored.
    bad = dict(form, key="", base_version_id=str(version.id))
    response = client.post(f"/bank/items/{item.external_id}", data=bad)
    assert response.status_code == 422 and "缺少答案" in response.get_data(as_text=True)

    # The author cannot approve (no reviewer role); a reviewer can.
    assert client.post(f"/bank/versions/{version.id}/approve", data={"csrf_token": token}).status_code == 302
    session.refresh(version)
    assert version.status == "in_review"
    token = login(client, "reviewer")
    queue = client.get("/bank/review").get_data(as_text=True)
    assert item.external_id in queue and "批量通过" in queue
    response = client.post(
        "/bank/review/bulk", data={"csrf_token": token, "action": "approve", "version_id": [str(version.id)]}
    )
    assert response.status_code == 302
    session.refresh(version)
    assert version.status == "approved" and version.reviewer_id == staff["reviewer"]
    detail = client.get(f"/bank/items/{item.external_id}").get_data(as_text=True)
    assert "已通过" in detail and "版本历史" in detail and 'class="option"' in detail
    actions = [
        e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity == "item_version"))
    ]
    assert actions == ["item.create", "item.submit", "item.approve"]


def test_reviewer_cannot_approve_own_item(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    both = session.get(User, staff["reviewer"])
    assert both is not None
    both.roles = ["author", "reviewer"]
    session.commit()
    token = login(client, "reviewer")
    status, body = api(client, token, "POST", "/bank/api/items", dict(FIRE, submit=True))
    assert status == 201 and body["version"]["status"] == "in_review"
    vid = body["version"]["version_id"]
    status, body = api(client, token, "POST", f"/bank/api/versions/{vid}/transition", {"action": "approve"})
    assert status == 409 and "自己编写" in body["error"]


def test_json_api_create_revise_history_and_errors(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    status, body = api(client, token, "POST", "/bank/api/items", dict(FIRE, key="D"))
    assert status == 422 and body["problems"] == [{"field": "key", "reason": "答案 D 不在选项 ABC 中"}]
    status, body = api(client, token, "POST", "/bank/api/items", FIRE)
    assert status == 201
    ext, v1 = body["id"], body["version"]["version_id"]
    status, body = api(
        client,
        token,
        "PUT",
        f"/bank/api/items/{ext}",
        dict(FIRE, stem="发现火情时应当首先（ ）。", base_version_id=v1),
    )
    assert status == 200 and body["version"]["version_no"] == 2
    status, body = api(client, token, "PUT", f"/bank/api/items/{ext}", dict(FIRE, base_version_id=v1))
    assert status == 409 and "更新的第 2 版" in body["error"]
    detail = client.get(f"/bank/api/items/{ext}").get_json()
    assert [v["version_no"] for v in detail["versions"]] == [1, 2]
    found = client.get("/bank/api/items", query_string={"q": "火情时"}).get_json()
    assert found["total"] == 1 and found["items"][0]["version_no"] == 2
    diff = client.get(f"/bank/items/{ext}/diff?a=1&b=2").get_data(as_text=True)
    assert "<ins>时</ins>" in diff
    # Writes need the CSRF token.
    assert client.post("/bank/api/items", json=FIRE).status_code == 400


def test_preview_renders_candidate_view_without_key(client: FlaskClient, staff: dict[str, int]) -> None:
    token = login(client, "author")
    status, body = api(client, token, "POST", "/bank/api/preview", dict(FIRE, key="E"))
    assert status == 200
    assert body["view"]["options"][1] == {"id": "B", "text": "报警"} and "key" not in body["view"]
    assert body["problems"] == [{"field": "key", "reason": "答案 E 不在选项 ABC 中"}]
    fill = {"type": "fill", "stem": "火警电话是（ ）。", "key": [["119"]], "levels": [5]}
    assert api(client, token, "POST", "/bank/api/preview", fill)[1]["view"]["blanks"] == 1


def test_image_upload_checks_size_and_content(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    headers = {"X-CSRFToken": token}
    ok = client.post("/bank/media", data={"file": (io.BytesIO(PNG), "scene.png")}, headers=headers)
    assert ok.status_code == 201
    ref = ok.get_json()
    assert client.get(ref["url"]).data == PNG
    fake = client.post("/bank/media", data={"file": (io.BytesIO(b"not an image"), "x.png")}, headers=headers)
    assert fake.status_code == 400 and "不是" in fake.get_json()["error"]
    big = client.post(
        "/bank/media", data={"file": (io.BytesIO(PNG + b"\0" * 2 * 1024 * 1024), "big.png")}, headers=headers
    )
    assert big.status_code == 400 and "超过上限" in big.get_json()["error"]
    assert session.scalar(select(func.count()).select_from(MediaFile)) == 1
    status, body = api(client, token, "POST", "/bank/api/items", dict(FIRE, media=[ref]))
    assert status == 201 and body["version"]["media"][0]["sha256"] == ref["sha256"]


def test_screens_render_on_the_shared_bank(
    client: FlaskClient, session: Session, staff: dict[str, int], shared_bank_csv: Path
) -> None:
    import_approved(session, shared_bank_csv)
    token = login(client, "manager")
    for url in ("/bank/items", "/bank/items?q=火灾&type=single&level=5", "/bank/tree", "/bank/coverage", "/bank/exchange",
                "/bank/items/BAY-0001", "/bank/review", "/bank/items?area=-1"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
    coverage = client.get("/bank/coverage").get_data(as_text=True)
    assert "消防安全" in coverage and "不足一份试卷" not in coverage
    job = client.post("/bank/exchange/export", data={"csrf_token": token, "format": "json"})
    assert job.status_code == 302 and "/jobs/" in job.headers["Location"]
    export = client.get(job.headers["Location"].split("?")[0] + "/file")
    assert export.status_code == 200 and len(json.loads(export.data)["items"]) == 1696
    assert client.get("/bank/exchange/template.xlsx").status_code == 200


def test_tree_edits_through_the_screen(
    client: FlaskClient, session: Session, staff: dict[str, int], shared_bank_csv: Path
) -> None:
    import_approved(session, shared_bank_csv)
    token = login(client, "manager")
    traffic = session.scalar(select(KnowledgeArea).where(KnowledgeArea.name == "道路交通安全"))
    fire = session.scalar(select(KnowledgeArea).where(KnowledgeArea.name == "消防安全"))
    assert traffic is not None and fire is not None
    response = client.post(
        f"/bank/tree/areas/{traffic.id}", data={"csrf_token": token, "op": "merge", "target_id": fire.id}
    )
    assert response.status_code == 302
    page = client.get("/bank/tree").get_data(as_text=True)
    assert "已将“道路交通安全”合并到“消防安全”，135 个试题版本随之归入" in page
    tagged = session.scalar(
        select(func.count()).select_from(ItemVersion).where(ItemVersion.knowledge_area_id == traffic.id)
    )
    assert tagged == 135  # the tags themselves are untouched; they count for the target
    token = login(client, "author")
    assert (
        client.post(
            f"/bank/tree/areas/{fire.id}", data={"csrf_token": token, "op": "update", "name": "x"}
        ).status_code
        == 403
    )


def test_anonymous_and_candidates_are_kept_out(client: FlaskClient, app: Flask) -> None:
    assert client.get("/bank/items").status_code in (302, 401)
    assert client.get("/bank/api/items").status_code in (302, 401)


def test_item_set_screens(client: FlaskClient, session: Session, staff: dict[str, int]) -> None:
    from item_bank.models import ItemSet

    token = login(client, "author")
    response = client.post("/bank/sets", data={"csrf_token": token, "title": "小区夜间巡逻", "stimulus": "某小区夜间……",
                                                "media": "[]"})  # fmt: skip
    assert response.status_code == 302
    item_set = session.scalar(select(ItemSet))
    assert item_set is not None and item_set.external_id.startswith("S")
    assert f"set={item_set.id}" in client.get(f"/bank/sets/{item_set.id}").get_data(as_text=True)
    for stem in ("可疑车辆应当（ ）。", "发现翻墙人员应当（ ）。"):
        status, _ = api(
            client, token, "POST", "/bank/api/items", dict(FIRE, stem=stem, item_set_id=item_set.id)
        )
        assert status == 201
    page = client.get(f"/bank/sets/{item_set.id}").get_data(as_text=True)
    assert page.count('class="q-stimulus"') == 1 and "发现翻墙人员" in page and "第 2 题" in page
    response = client.post(
        f"/bank/sets/{item_set.id}",
        data={"csrf_token": token, "title": "夜巡", "stimulus": "", "media": "[]"},
    )
    assert "情景材料不能为空" in client.get(response.location).get_data(as_text=True)
    assert client.get("/bank/sets").status_code == 200


def row_counts(session: Session) -> dict[str, int]:
    return {
        t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables
    }


def test_bank_pages_read_only_and_the_tree_is_made_on_request(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "manager")
    before = row_counts(session)
    assert before["knowledge_area"] == 0
    pages = ("/bank/tree", "/bank/items", "/bank/items/new", "/bank/review", "/bank/coverage", "/bank/exchange",
             "/bank/sets", "/bank/api/areas", "/bank/api/items", "/bank/exchange/template.xlsx")  # fmt: skip
    for url in pages:
        assert client.get(url).status_code == 200, url
    session.expire_all()
    assert row_counts(session) == before
    assert 'action="/bank/tree/seed"' in client.get("/bank/tree").get_data(as_text=True)
    assert client.post("/bank/tree/seed", data={"csrf_token": token}).status_code == 302
    assert session.scalar(select(func.count()).select_from(KnowledgeArea)) == 22
    seeded = session.scalar(select(AuditEvent).where(AuditEvent.action == "tree.seed"))
    assert seeded is not None and seeded.actor == "user:manager"
    page = client.get("/bank/tree").get_data(as_text=True)
    assert "已建立标准知识树（22 个知识点）" in page and "消防安全" in page and "/bank/tree/seed" not in page

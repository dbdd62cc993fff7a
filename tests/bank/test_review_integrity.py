"""Review integrity on the bank's screens: the editor and the review queue flag exact and near copies of bank
items (with a link and the similarity), and a reviewer's comment shows the reviewer's name, not 系统."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from item_bank.models import Item

PASSWORD = "a-long-bank-password-7"
ROLES = {"author": ["author"], "author2": ["author"], "reviewer": ["reviewer"]}
FIRE = {"type": "single", "stem": "发现火情时，保安员应当首先（ ）。", "options": ["逃离现场", "立即报警", "围观拍照"],
        "key": "B", "levels": [5], "points": 1}  # fmt: skip
# The same question: clauses swapped, punctuation changed, options in another order (the key follows them).
REWORDED = dict(
    FIRE, stem="保安员发现火情时应当首先( )", options=["立即报警", "围观拍照", "逃离现场"], key="A"
)


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


def _token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


def login(client: FlaskClient, username: str) -> str:
    with client.session_transaction() as s:
        s.clear()
    token = _token(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return _token(client.get("/bank/items").get_data(as_text=True))


def create(client: FlaskClient, token: str, body: dict[str, object], submit: bool = True) -> dict:
    response = client.post("/bank/api/items", json=dict(body, submit=submit), headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _flag(external_id: str, score: str) -> re.Pattern[str]:
    return re.compile(rf'疑似与 <a href="/bank/items/{external_id}">{external_id}</a> 重复（相似度 {score}）')


def test_the_editor_flags_an_exact_copy_and_a_reworded_one(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    first = create(client, token, FIRE)["id"]

    # The live preview: an exact copy (options reordered) and a reworded copy are flagged with a link.
    exact = dict(FIRE, options=["围观拍照", "立即报警", "逃离现场"], key="B")
    body = client.post("/bank/api/preview", json=exact, headers={"X-CSRFToken": token}).get_json()
    assert [(d["id"], d["score"], d["exact"]) for d in body["duplicates"]] == [(first, 1.0, True)]
    assert body["duplicates"][0]["url"] == f"/bank/items/{first}"
    assert body["duplicates"][0]["message"] == f"疑似与 {first} 重复（相似度 1.00）"
    reworded = client.post("/bank/api/preview", json=REWORDED, headers={"X-CSRFToken": token}).get_json()
    assert [d["id"] for d in reworded["duplicates"]] == [first] and reworded["duplicates"][0]["score"] < 1
    # Editing the item itself is no duplicate of itself.
    own = client.post(
        "/bank/api/preview", json=dict(FIRE, item=first), headers={"X-CSRFToken": token}
    ).get_json()
    assert own["duplicates"] == []

    # Saving an exact copy through the API says so; saving through the editor flashes it and the new item's
    # page and editor show the link.
    copy = create(client, token, exact)
    assert [d["id"] for d in copy["duplicates"]] == [first]
    form = {"csrf_token": token, "type": "single", "stem": FIRE["stem"], "option": FIRE["options"], "key": "B",
            "points": "1", "levels": "5", "part": "theory", "submit": "0"}  # fmt: skip
    response = client.post("/bank/items", data=form, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and f"疑似与 {first} 重复（相似度 1.00）" in page
    assert _flag(first, "1.00").search(page)
    editor = client.get(f"/bank/items/{copy['id']}/edit").get_data(as_text=True)
    assert _flag(first, "1.00").search(editor)


def test_the_review_queue_shows_each_versions_duplicates(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    first = create(client, token, FIRE)["id"]
    token = login(client, "author2")
    second = create(client, token, REWORDED)["id"]
    create(
        client,
        token,
        dict(FIRE, stem="巡逻时发现可疑人员，保安员应当（ ）。", options=["盘问", "跟踪", "报告"], key="C"),
    )
    login(client, "reviewer")
    queue = client.get("/bank/review").get_data(as_text=True)
    assert _flag(second, r"0\.\d\d").search(queue) and _flag(first, r"0\.\d\d").search(queue)
    assert queue.count("疑似与") == 2  # the unrelated third item carries no flag


def test_a_reviewers_return_comment_shows_the_reviewer(
    client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "author")
    ext = create(client, token, FIRE)["id"]
    item = session.scalar(select(Item).where(Item.external_id == ext))
    assert item is not None
    version_id = item.versions[0].id
    token = login(client, "reviewer")
    response = client.post(
        f"/bank/versions/{version_id}/return",
        data={"csrf_token": token, "comment": "选项 C 表述不当，请修改"},
    )
    assert response.status_code == 302
    login(client, "author")
    page = client.get(f"/bank/items/{ext}").get_data(as_text=True)
    comment = re.search(
        r'<div class="comment">选项 C 表述不当，请修改<br><span class="small">([^<·]+)·', page
    )
    assert comment is not None and comment.group(1).strip() == "reviewer 老师"

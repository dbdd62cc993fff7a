"""A socket start carries the candidate's paper: the text GET /api/attempt answers, and only when the attempt runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Sitting, exam_socket
from delivery_support import give_an_item_an_image, statements_sent
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.extensions import db

NS = "/exam"
# What differs between two readings of the same paper a moment apart.
MOMENT = ("server_now", "remaining_s")


def _joined(app: Flask, client: FlaskClient, sitting: Sitting, index: int = 0) -> tuple[Any, int]:
    sitting.login(client, index)
    sock = exam_socket(app, client)
    attempt_id = sitting.attempt_ids[index]
    assert sock.emit("join", {"attempt_id": attempt_id, "workstation": f"ws-{index}"}, namespace=NS, callback=True)["ok"]
    return sock, attempt_id


def _start(sock: Any, attempt_id: int) -> dict[str, Any]:
    return sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)


def _same_paper(paper: str, fetched: dict[str, Any]) -> None:
    carried = json.loads(paper)
    for name in MOMENT:
        carried.pop(name)
        fetched.pop(name)
    assert carried == fetched


def test_the_start_ack_carries_the_paper_get_would_answer(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    sock, attempt_id = _joined(app, client, sitting)
    ack = _start(sock, attempt_id)
    assert ack["ok"] and ack["status"] == "in_progress"
    assert isinstance(ack["paper"], str)  # pre-encoded: the packet encoder does not walk the items again
    fetched = client.get("/api/attempt").get_json()
    assert len(fetched["items"]) == 10 and fetched["submit_opens_at"] and fetched["ends_at"]
    _same_paper(ack["paper"], fetched)
    assert '"key"' not in ack["paper"] and "answer" not in ack["paper"]


def test_each_candidate_gets_their_own_order(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    papers = []
    for index in range(2):
        http = app.test_client()
        sock, attempt_id = _joined(app, http, sitting, index)
        ack = _start(sock, attempt_id)
        _same_paper(ack["paper"], http.get("/api/attempt").get_json())
        papers.append(json.loads(ack["paper"]))
    assert papers[0]["attempt_id"] != papers[1]["attempt_id"]


def test_a_repeat_start_of_a_running_attempt_carries_it_again(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    sock, attempt_id = _joined(app, client, sitting)
    first = _start(sock, attempt_id)
    again = _start(sock, attempt_id)
    assert again["ok"] and again["status"] == "in_progress"
    _same_paper(again["paper"], client.get("/api/attempt").get_json())
    assert json.loads(again["paper"])["items"] == json.loads(first["paper"])["items"]


def test_a_refused_start_carries_no_paper(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id = _joined(app, client, sitting)
    attempt = session.get(Attempt, attempt_id)
    attempt.session.paper_sealed = True
    session.commit()
    sealed = _start(sock, attempt_id)
    assert not sealed["ok"] and sealed["error"] == "paper_sealed" and "paper" not in sealed
    other = _start(sock, sitting.attempt_ids[1])  # someone else's attempt
    assert not other["ok"] and other["error"] == "not_your_attempt" and "paper" not in other


def test_a_start_after_submitting_carries_no_paper(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    sock, attempt_id = _joined(app, client, sitting)
    assert "paper" in _start(sock, attempt_id)
    submitted = sock.emit("submit", {"attempt_id": attempt_id, "key": "ws-0:submit"}, namespace=NS, callback=True)
    assert submitted["ok"], submitted
    after = _start(sock, attempt_id)
    assert after["status"] != "in_progress" and "paper" not in after


def test_the_http_start_still_answers_without_the_paper(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    token = sitting.login(client)
    attempt_id = sitting.attempt_ids[0]
    response = client.post(f"/api/attempts/{attempt_id}/join", json={"workstation": "ws-http", "start": True},
                           headers={"X-CSRFToken": token})
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "in_progress", body
    assert "paper" not in body


def test_a_start_reads_its_attempt_once(app: Flask, client: FlaskClient, sitting: Sitting,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The seal and the paper's columns come with the start's state read: no query of its own for either."""
    warm = app.test_client()  # the form's items are read once per process, by the first start
    sock, attempt_id = _joined(app, warm, sitting, 1)
    assert "paper" in _start(sock, attempt_id)
    sock, attempt_id = _joined(app, client, sitting)
    assert db.engine is not None
    sent = statements_sent(db.engine, monkeypatch)
    ack = _start(sock, attempt_id)
    # On PostgreSQL the transaction's BEGIN is sent in front of its first statement (item_bank.db).
    reads = [s for s in sent if s.removeprefix("BEGIN;\n").lstrip().upper().startswith("SELECT")]
    assert ack["ok"] and "paper" in ack
    assert len(reads) == 1 and "paper_sealed" in reads[0] and "item_order" in reads[0], reads
    if db.engine.dialect.name == "postgresql":  # a room's start burst: BEGIN and COMMIT go with statements
        assert sent[0].startswith("BEGIN;\n") and sent[-1].endswith(";\nCOMMIT"), sent


def test_image_links_in_the_carried_paper_are_the_candidates_own(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    with_image = give_an_item_an_image(session, sitting)
    sock, attempt_id = _joined(app, client, sitting)
    ack = _start(sock, attempt_id)
    image = next(i for i in json.loads(ack["paper"])["items"] if i["item_id"] == with_image)
    assert image["media"][0]["url"] == f"/api/attempts/{attempt_id}/media/{'c' * 64}"
    _same_paper(ack["paper"], client.get("/api/attempt").get_json())

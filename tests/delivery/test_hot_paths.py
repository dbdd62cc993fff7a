"""The paths a whole room takes at once (paper, join, save, flag) give the same answers as the ORM would.

They were rewritten as prepared statements and pre-encoded fragments for exam-day load
(benchmarks/load.py); these tests pin what they must still do.
"""

from __future__ import annotations

import gc
import json
from collections import Counter

import pytest
from conftest import Sitting, exam_socket
from delivery_support import save, started
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from exam_server.delivery import operations as ops
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.extensions import db
from item_bank.models import FormItem

NS = "/exam"


def test_the_paper_as_served_is_the_rendered_paper_for_every_candidate(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    """Encoded fragments are shared between candidates; each still gets their own order and image links."""
    form_id = session.get(Attempt, sitting.attempt_ids[0]).form_id
    with_image = session.scalar(select(FormItem.item_version_id).where(FormItem.form_id == form_id))
    session.execute(text("UPDATE item_version SET media = :m WHERE id = :id"),
                    {"m": json.dumps([{"sha256": "c" * 64, "name": "图.png"}]), "id": with_image})
    session.commit()
    ops.clear_form_cache()
    for index, attempt_id in enumerate(sitting.attempt_ids):
        other = app.test_client()
        started(app, other, sitting, index)
        db.session.expire_all()
        attempt = db.session.get(Attempt, attempt_id)
        served = other.get("/api/attempt")
        assert served.mimetype == "application/json"
        body = served.get_json()
        expected = ops.render_attempt(db.session, attempt)
        assert body["items"] == expected["items"]
        assert [i["item_id"] for i in body["items"]] == attempt.item_order
        assert [i["number"] for i in body["items"]] == list(range(1, len(attempt.item_order) + 1))
        image = next(i for i in body["items"] if i["item_id"] == with_image)
        assert image["media"][0]["url"] == f"/api/attempts/{attempt_id}/media/{'c' * 64}"
        assert all("key" not in i and "answer" not in i for i in body["items"])


def test_a_save_changes_the_counters_the_seat_map_and_a_rejoin_read(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    first, second = items[0], items[1]
    answer = first["options"][0]["id"]
    assert save(sock, attempt_id, first["item_id"], answer, 5)["ok"]
    assert save(sock, attempt_id, first["item_id"], None, 3)["ok"]  # older: logged, not applied
    flagged = sock.emit("flag", {"attempt_id": attempt_id, "item_id": second["item_id"], "flagged": True,
                                 "seq": 6, "key": "f6"}, namespace=NS, callback=True)
    assert flagged == {"ok": True, "seq": 6, "flagged": True}
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert (attempt.answered_count, attempt.last_seq) == (1, 6)
    stored = session.scalar(select(Response).where(Response.attempt_id == attempt_id,
                                                   Response.item_version_id == first["item_id"]))
    assert (stored.value, stored.seq) == (answer, 5)
    applied = [e.payload["applied"] for e in session.scalars(
        select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id, AttemptEvent.kind == "save")
        .order_by(AttemptEvent.id))]
    assert applied == [True, False]
    # Clearing the answer takes it off the answered count; a resend of the same key changes nothing.
    assert save(sock, attempt_id, first["item_id"], None, 7, key="clear")["ok"]
    assert save(sock, attempt_id, first["item_id"], answer, 8, key="clear")["seq"] == 7
    session.expire_all()
    assert session.get(Attempt, attempt_id).answered_count == 0
    rejoined = sock.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0"}, namespace=NS, callback=True)
    assert rejoined["last_seq"] == 7 and rejoined["flags"] == [second["item_id"]]
    assert rejoined["answers"][str(first["item_id"])]["seq"] == 7


def test_a_socket_verifies_its_login_cookie_once_and_http_every_time(
    app: Flask, client: FlaskClient, sitting: Sitting, monkeypatch
) -> None:
    calls: list[str] = []
    original = SecureCookieSessionInterface.open_session

    def counting(self, app_, request):  # type: ignore[no-untyped-def]
        calls.append(request.path)
        return original(self, app_, request)

    monkeypatch.setattr(SecureCookieSessionInterface, "open_session", counting)
    sitting.login(client)
    sock = exam_socket(app, client)
    calls.clear()
    for _ in range(5):
        assert sock.emit("ping_time", {"attempt_id": sitting.attempt_ids[0]}, namespace=NS, callback=True)["ok"]
    assert len(calls) <= 1  # at most the first event of this connection
    client.get("/api/attempt")
    client.get("/api/attempt")
    assert calls.count("/api/attempt") == 2


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_socket_events_leave_no_exceptions_in_reference_cycles(
    app: Flask, client: FlaskClient, sitting: Sitting, transport: str
) -> None:
    """Garbage in cycles waits for the collector's full passes, which stall every socket of the process
    (100-300 ms every few seconds under benchmarks/load.py, when each event left a NotFound with its
    traceback and frames behind). Werkzeug's URL matcher still leaves one small closure per event."""
    # Each event's request context is built from the environ of the connection's first request.
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"} if transport == "websocket" else None
    sock, attempt_id, items = started(app, client, sitting, headers=upgrade)
    item = items[0]
    assert save(sock, attempt_id, item["item_id"], item["options"][0]["id"], 1)["ok"]
    saves = 40
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for seq in range(2, 2 + saves):
            assert save(sock, attempt_id, item["item_id"], item["options"][seq % 2]["id"], seq)["ok"]
        gc.collect()
        kinds = Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not {"frame", "traceback"} & set(kinds), kinds
    assert kinds.total() < 10 * saves, kinds

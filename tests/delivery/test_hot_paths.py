"""The paths a whole room takes at once (paper, join, save, flag) give the same answers as the ORM would.

They were rewritten as prepared statements and pre-encoded fragments for exam-day load
(benchmarks/load.py); these tests pin what they must still do.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter

import pytest
from conftest import Sitting, exam_socket
from delivery_support import give_an_item_an_image, save, started
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from exam_server.delivery import paper, steps
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.extensions import db
from item_bank.db import make_session_factory

NS = "/exam"


def test_the_paper_as_served_is_the_rendered_paper_for_every_candidate(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    """Encoded fragments are shared between candidates; each still gets their own order and image links."""
    with_image = give_an_item_an_image(session, sitting)
    for index, attempt_id in enumerate(sitting.attempt_ids):
        other = app.test_client()
        started(app, other, sitting, index)
        db.session.expire_all()
        attempt = db.session.get(Attempt, attempt_id)
        served = other.get("/api/attempt")
        assert served.mimetype == "application/json"
        body = served.get_json()
        expected = paper.render_attempt(db.session, attempt)
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


def _sessions_waiting_for_a_lock() -> int:
    """Connections to this test's database that wait for a lock now."""
    # A connection of its own each time: PostgreSQL shows a transaction one snapshot of the activity view.
    with db.engine.connect() as probe:
        return int(probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'")).scalar_one())


# Two transactions of one attempt at once happen with several server processes, on PostgreSQL; the
# one process of the SQLite set-up runs its transactions one after another (gevent, no I/O inside).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_resend_racing_its_original_is_stored_once_and_both_get_the_same_acknowledgement(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    """The browser resent an answer before the first send was acknowledged, on a new connection: both
    sends wait for the attempt's row and read before either commits, so the second finds the key
    taken only when it writes (in the one statement of its writes)."""
    _sock, attempt_id, items = started(app, client, sitting)
    item, answer = items[0]["item_id"], items[0]["options"][1]["id"]
    candidate_id = session.get(Attempt, attempt_id).candidate_id
    holder = db.engine.connect()
    holder.execute(text("SELECT id FROM attempt WHERE id = :id FOR UPDATE"), {"id": attempt_id})
    acks: list[dict] = []

    def send() -> None:
        with make_session_factory(db.engine)() as own:
            acks.append(steps.save_answer(own, candidate_id, attempt_id, item, answer, 4, "resent-4", "ws-0"))

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while _sessions_waiting_for_a_lock() < 2:  # both are waiting for the row
        assert time.monotonic() < deadline, "the two sends never both waited for the attempt's row"
        time.sleep(0.01)
    holder.rollback()
    holder.close()
    for sender in senders:
        sender.join(30)
    assert len(acks) == 2 and acks[0] == acks[1] and acks[0]["ok"] and acks[0]["seq"] == 4
    session.expire_all()
    logged = session.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id,
                                                        AttemptEvent.key == "resent-4")).all()
    assert len(logged) == 1
    stored = session.scalar(select(Response).where(Response.attempt_id == attempt_id,
                                                   Response.item_version_id == item))
    assert (stored.value, stored.seq) == (answer, 4)
    assert session.get(Attempt, attempt_id).answered_count == 1


# A background job (an import, storing assembled forms) writes from another process while candidates save.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_save_waits_for_another_writer_instead_of_being_refused(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    """Another connection holds SQLite's write lock and commits while a save is under way. The save waits its
    turn and is stored: a transaction begun as a reader could not write after that commit (its snapshot is
    stale) and was refused as `unavailable` at once."""
    _sock, attempt_id, items = started(app, client, sitting)
    item, answer = items[0]["item_id"], items[0]["options"][1]["id"]
    candidate_id = session.get(Attempt, attempt_id).candidate_id
    session.commit()
    writer = db.engine.connect()
    writer.exec_driver_sql("UPDATE attempt SET last_activity_at = last_activity_at WHERE id = -1")  # holds the lock
    acks: list[dict] = []

    def send() -> None:
        with make_session_factory(db.engine)() as own:
            acks.append(steps.save_answer(own, candidate_id, attempt_id, item, answer, 4, "waits-4", "ws-0"))

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)  # the save has begun and waits for the lock
    writer.exec_driver_sql("UPDATE attempt SET last_activity_at = last_activity_at WHERE id = :id",
                           {"id": attempt_id})
    writer.commit()
    writer.close()
    sender.join(30)
    assert acks and acks[0]["ok"], acks
    session.expire_all()
    stored = session.scalar(select(Response).where(Response.attempt_id == attempt_id,
                                                   Response.item_version_id == item))
    assert (stored.value, stored.seq) == (answer, 4)

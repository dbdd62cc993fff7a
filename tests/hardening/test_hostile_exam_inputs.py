"""A corpus of hostile exam inputs, over the socket and the HTTP fallback: oversized values and payloads,
wrong types in every field, out-of-range sequence numbers, missing fields, other candidates' attempts and
too many sockets. Each is refused with a stable code, nothing is stored, and the server still answers.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer
from conftest import SMALL_PAPER, Sitting, app_config, exam_socket, need_service
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery.models import AttemptEvent, Response
from item_bank.db import Base, make_engine

pytest_plugins = ["proctor_support"]  # each client call gets its own `g`, as in production

NS = "/exam"
MB = 1024 * 1024


def footprint(session: Session, attempt_id: int) -> tuple[int, int]:
    """What the attempt holds: answered responses and logged steps."""
    session.expire_all()
    responses = session.scalar(select(func.count()).select_from(Response)
                               .where(Response.attempt_id == attempt_id, Response.seq > 0))
    events = session.scalar(select(func.count()).select_from(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id))
    return int(responses or 0), int(events or 0)


def still_answering(sock: Any, attempt_id: int, item_id: int, option: str, seq: int) -> None:
    assert sock.emit("ping_time", {"attempt_id": attempt_id}, namespace=NS, callback=True)["ok"]
    assert save(sock, attempt_id, item_id, option, seq, key=f"good-{seq}")["ok"]


@pytest.fixture
def exam(app: Flask, client: FlaskClient, sitting: Sitting) -> Iterator[tuple[Any, int, list[dict]]]:
    sock, attempt_id, items = started(app, client, sitting)
    yield sock, attempt_id, items


def _save_body(attempt: int, item: dict, **changes: Any) -> dict[str, Any]:
    body = {"attempt_id": attempt, "item_id": item["item_id"], "value": item["options"][0]["id"], "seq": 5,
            "key": "hostile"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not MISSING}


MISSING = object()
NESTED: Any = "A"
for _ in range(200):
    NESTED = [NESTED]

# (what it is, the save's changed fields, the code it must be refused with)
SAVE_CORPUS: list[tuple[str, dict[str, Any], str]] = [
    ("a 1 MB answer", {"value": "答" * MB}, "payload_too_large"),
    ("a 30k-character answer (over every type's limit)", {"value": "A" * 30_000}, "value_too_large"),
    ("a 100-letter choice answer (over the choice type's limit)", {"value": "A" * 100}, "value_too_large"),
    ("ten thousand blanks", {"value": ["x"] * 10_000}, "value_too_large"),
    ("an object as the answer", {"value": {"A": True}}, "invalid_value"),
    ("a number as the answer", {"value": 1}, "invalid_value"),
    ("a 200-deep nested list", {"value": NESTED}, "invalid_value"),
    ("seq 10^30", {"seq": 10**30}, "invalid_value"),
    ("seq 2^63-1", {"seq": 2**63 - 1}, "invalid_value"),
    ("seq 2^31", {"seq": 2**31}, "invalid_value"),
    ("seq 0", {"seq": 0}, "invalid_value"),
    ("seq -1", {"seq": -1}, "invalid_value"),
    ("seq as text", {"seq": "5"}, "invalid_value"),
    ("seq as a float", {"seq": 5.5}, "invalid_value"),
    ("seq true", {"seq": True}, "invalid_value"),
    ("no seq", {"seq": MISSING}, "invalid_value"),
    ("a 10k key", {"key": "k" * 10_000}, "invalid_value"),
    ("a key object", {"key": {"k": 1}}, "invalid_value"),
    ("no key", {"key": MISSING}, "invalid_value"),
    ("an item id as text", {"item_id": "1"}, "unknown_item"),
    ("item id true", {"item_id": True}, "unknown_item"),
    ("item id 10^30", {"item_id": 10**30}, "unknown_item"),
    ("no item id", {"item_id": MISSING}, "unknown_item"),
    ("attempt id as text", {"attempt_id": "1"}, "not_your_attempt"),
    ("attempt id true", {"attempt_id": True}, "not_your_attempt"),
    ("attempt id 10^30", {"attempt_id": 10**30}, "not_your_attempt"),
    ("no attempt id", {"attempt_id": MISSING}, "not_your_attempt"),
]


def test_hostile_saves_over_the_socket_are_refused_and_nothing_is_stored(
    exam: tuple[Any, int, list[dict]], session: Session
) -> None:
    sock, attempt_id, items = exam
    item = items[0]
    before = footprint(session, attempt_id)
    for what, changes, code in SAVE_CORPUS:
        ack = sock.emit("save", _save_body(attempt_id, item, **changes), namespace=NS, callback=True)
        assert ack["ok"] is False and ack["error"] == code, (what, ack)
        assert ack["message"] and not ack["message"].isascii(), (what, ack)  # a Chinese sentence for the page
    assert footprint(session, attempt_id) == before
    still_answering(sock, attempt_id, item["item_id"], item["options"][0]["id"], 6)


def test_another_candidates_attempt_is_refused_on_every_event(
    app: Flask, exam: tuple[Any, int, list[dict]], sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = exam
    other_id = sitting.attempt_ids[1]
    before = footprint(session, other_id)
    item = items[0]
    for event, body in (
        ("join", {"attempt_id": other_id, "workstation": "ws-0"}),
        ("start", {"attempt_id": other_id}),
        ("save", _save_body(other_id, item)),
        ("flag", {"attempt_id": other_id, "item_id": item["item_id"], "flagged": True, "seq": 7, "key": "f"}),
        ("submit", {"attempt_id": other_id, "key": "s"}),
        ("ping_time", {"attempt_id": other_id}),
    ):
        ack = sock.emit(event, body, namespace=NS, callback=True)
        assert ack["ok"] is False and ack["error"] == "not_your_attempt", (event, ack)
    assert footprint(session, other_id) == before
    still_answering(sock, attempt_id, item["item_id"], item["options"][0]["id"], 8)


ODD_PAYLOADS: list[Any] = [None, [], "attempt", 7, True, {"attempt_id": None}, {"unexpected": "x" * 1000}]


def test_every_event_takes_any_payload_shape_with_a_refusal(
    exam: tuple[Any, int, list[dict]], session: Session
) -> None:
    sock, attempt_id, items = exam
    before = footprint(session, attempt_id)
    for event in ("join", "start", "save", "flag", "submit", "ping_time"):
        for payload in ODD_PAYLOADS:
            args = () if payload is None else (payload,)
            ack = sock.emit(event, *args, namespace=NS, callback=True)
            assert isinstance(ack, dict) and ack["ok"] is False, (event, payload, ack)
        ack = sock.emit(event, {"attempt_id": attempt_id, "x": "答" * MB}, namespace=NS, callback=True)
        assert ack["error"] == "payload_too_large", (event, ack)
    assert footprint(session, attempt_id) == before
    item = items[0]
    still_answering(sock, attempt_id, item["item_id"], item["options"][0]["id"], 9)


def test_wrong_types_in_flag_join_and_submit_are_refused(
    app: Flask, client: FlaskClient, exam: tuple[Any, int, list[dict]], session: Session
) -> None:
    sock, attempt_id, items = exam
    item = items[0]
    before = footprint(session, attempt_id)
    for flagged in ("yes", 1, None, [], {"x": 1}):
        ack = sock.emit("flag", {"attempt_id": attempt_id, "item_id": item["item_id"], "flagged": flagged,
                                 "seq": 10, "key": f"f-{flagged!r}"}, namespace=NS, callback=True)
        assert ack["error"] == "invalid_value", (flagged, ack)
    for key in ({"k": 1}, ["k"], 5, "k" * 81):
        ack = sock.emit("submit", {"attempt_id": attempt_id, "key": key}, namespace=NS, callback=True)
        assert ack["error"] == "invalid_value", (key, ack)
    # A join names this socket's workstation or a valid name: never an object turned into text.
    joiner = exam_socket(app, client)
    for workstation in ({"a": 1}, ["ws-0"], 12345, "w" * 65, True):
        ack = joiner.emit("join", {"attempt_id": attempt_id, "workstation": workstation}, namespace=NS, callback=True)
        assert ack["error"] == "invalid_value", (workstation, ack)
    joiner.disconnect(NS)
    assert footprint(session, attempt_id) == before
    still_answering(sock, attempt_id, item["item_id"], item["options"][0]["id"], 11)


def test_hostile_http_fallback_calls_are_refused_with_json(
    client: FlaskClient, exam: tuple[Any, int, list[dict]], sitting: Sitting, session: Session
) -> None:
    _sock, attempt_id, items = exam
    item = items[0]
    token = sitting.login(client)
    headers = {"X-CSRFToken": token}
    url = f"/api/attempts/{attempt_id}"
    before = footprint(session, attempt_id)
    good = _save_body(attempt_id, item, workstation="ws-0")
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("a 1 MB body", "save", {**good, "value": "答" * MB}, 413, "payload_too_large"),
        ("a 300 kB body", "save", {**good, "pad": "x" * 300_000}, 413, "payload_too_large"),
        ("a 30k answer", "save", {**good, "value": "A" * 30_000}, 422, "value_too_large"),
        ("a long choice answer", "save", {**good, "value": "A" * 100}, 422, "value_too_large"),
        ("seq 2^63-1", "save", {**good, "seq": 2**63 - 1}, 400, "invalid_value"),
        ("an object answer", "save", {**good, "value": {"x": 1}}, 400, "invalid_value"),
        ("a text flag", "flag", {**good, "flagged": "yes"}, 400, "invalid_value"),
        ("a 1 MB submit", "submit", {"key": "s", "workstation": "ws-0", "pad": "x" * MB}, 413, "payload_too_large"),
        ("a 1 MB join", "join", {"workstation": "w" * MB}, 413, "payload_too_large"),
        ("an object workstation", "join", {"workstation": {"a": 1}}, 409, "invalid_value"),
    ]
    for what, path, body, status, code in cases:
        response = client.post(f"{url}/{path}", json=body, headers=headers)
        assert response.status_code == status, (what, response.status_code, response.get_data(as_text=True)[:200])
        assert response.is_json and response.get_json()["error"] == code, what
    # A list or a string as the body is no body at all: refused for what is missing, never a 500.
    for raw in ("[1, 2]", '"save"', "not json"):
        response = client.post(f"{url}/save", data=raw, content_type="application/json", headers=headers)
        assert response.status_code in (400, 403) and response.is_json, raw
    assert footprint(session, attempt_id) == before
    assert client.post(f"{url}/save", json={**good, "seq": 12, "key": "good-http"}, headers=headers).get_json()["ok"]


def test_a_candidate_holds_at_most_the_configured_number_of_sockets(
    app: Flask, client: FlaskClient, exam: tuple[Any, int, list[dict]], session: Session
) -> None:
    from exam_server.delivery import sockets
    from exam_server.delivery.models import Attempt

    sock, attempt_id, items = exam
    candidate_id = session.get(Attempt, attempt_id).candidate_id
    cap = app.config["MAX_SOCKETS_PER_CANDIDATE"]
    assert cap == 3
    extra = [exam_socket(app, client) for _ in range(cap - 1)]
    assert all(s.is_connected(NS) for s in extra)
    refused = [exam_socket(app, client) for _ in range(5)]
    assert not any(s.is_connected(NS) for s in refused)
    assert sockets.held_count(None, candidate_id) == cap
    # Closing one gives its slot back.
    extra[0].disconnect(NS)
    again = exam_socket(app, client)
    assert again.is_connected(NS)
    item = items[0]
    still_answering(sock, attempt_id, item["item_id"], item["options"][0]["id"], 13)


# ---------------------------------------------------------------- live servers: the transport and several processes


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")


def poll(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
    return value


class LiveSocket:
    """A python-socketio client on /exam of a live server, with the reason a refused connect gave."""

    def __init__(self, base: str, cookie: str) -> None:
        import socketio

        self.client = socketio.Client(reconnection=False)
        self.refusal: Any = None
        self.closed = threading.Event()
        self.client.on("connect_error", self._refused, namespace=NS)
        self.client.on("disconnect", lambda *_: self.closed.set(), namespace=NS)
        with contextlib.suppress(socketio.exceptions.ConnectionError):  # a refusal: `refusal` says why
            self.client.connect(base, headers={"Cookie": cookie}, namespaces=[NS], transports=["websocket"],
                                wait_timeout=10)

    def _refused(self, data: Any = None) -> None:
        self.refusal = data

    @property
    def connected(self) -> bool:
        return NS in self.client.namespaces

    def call(self, event: str, body: Any) -> Any:
        return self.client.call(event, body, namespace=NS, timeout=10)

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def two_servers(tmp_path: Path, small_bank_csv: Path) -> Iterator[tuple[LiveServer, LiveServer, Any]]:
    """A seeded SQLite sitting served by two `examctl run` processes sharing a Redis message queue."""
    import redis

    from exam_server import create_app
    from exam_server.demo import seed_exam
    from exam_server.extensions import db

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except Exception as exc:  # no Redis here
        need_service(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(app_config(url))
    with app.app_context():
        seeded = seed_exam(db.session, bank_path=small_bank_csv, sections=SMALL_PAPER, n_candidates=2,
                           hash_profile="low", staff_password="pw-staff")
        db.dispose()
    servers = [LiveServer(url, tmp_path / f"instance{i}", SOCKETIO_MESSAGE_QUEUE=REDIS_URL).start() for i in (0, 1)]
    try:
        yield servers[0], servers[1], seeded
    finally:
        for server in servers:
            server.stop()


@pytest.mark.redis
def test_live_oversized_messages_and_the_socket_cap_across_two_processes(
    two_servers: tuple[LiveServer, LiveServer, Any]
) -> None:
    import redis
    import requests

    from exam_server.delivery.models import Attempt

    a, b, seeded = two_servers
    number, password, _ = seeded.logins[0]
    engine = make_engine(a.database_url)
    with Session(engine) as s:
        attempt = s.scalar(select(Attempt).order_by(Attempt.ticket_id))
        attempt_id, candidate_id = attempt.id, attempt.candidate_id
    engine.dispose()
    slots = redis.Redis.from_url(REDIS_URL)
    http = requests.Session()
    page = http.get(f"{a.url}/login").text
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    assert http.post(f"{a.url}/login", data={"ticket": number, "password": password, "csrf_token": token},
                     allow_redirects=False).status_code == 302
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    opened: list[LiveSocket] = []
    try:
        first = LiveSocket(a.url, cookie)
        opened.append(first)
        assert first.connected
        assert first.call("join", {"attempt_id": attempt_id, "workstation": f"ws-{uuid.uuid4().hex[:8]}"})["ok"]
        # A 1.5 MB event (what a careless page or a script might send) is read and refused with a reason ...
        ack = first.call("save", {"attempt_id": attempt_id, "item_id": 1, "value": "x" * (3 * MB // 2),
                                  "seq": 1, "key": "big"})
        assert ack["ok"] is False and ack["error"] == "payload_too_large", ack
        assert first.call("ping_time", {"attempt_id": attempt_id})["ok"]
        # ... and one beyond what engine.io reads at all (2 MiB) at worst closes its own connection.
        with contextlib.suppress(Exception):  # closed unread, or no acknowledgement
            first.call("save", {"attempt_id": attempt_id, "value": "x" * (3 * MB)})
        opened.remove(first)
        first.close()

        # Three sockets at once, over both processes; the fourth is refused on either, with the reason.
        key = f"exam:sockets:{candidate_id}"
        poll(lambda: slots.zcard(key) == 0, 10, "the closed socket's slot")
        held = [LiveSocket(a.url, cookie), LiveSocket(b.url, cookie), LiveSocket(a.url, cookie)]
        opened.extend(held)
        assert all(s.connected for s in held)
        assert slots.zcard(key) == 3
        for server in (a, b):
            refused = LiveSocket(server.url, cookie)
            opened.append(refused)
            assert not refused.connected
            # socket.io-client hands the page this as connect_error's err.data (client/src/exam/exam.js)
            reason = (refused.refusal or {}).get("data") or refused.refusal or {}
            assert reason.get("error") == "too_many_sockets" and reason.get("message"), refused.refusal
        # Closing one on A frees a slot for B.
        held[0].close()
        opened.remove(held[0])

        def reconnects() -> bool:
            late = LiveSocket(b.url, cookie)
            opened.append(late)
            return late.connected

        poll(reconnects, 10, "a socket after one was closed")
        assert requests.get(f"{a.url}/login", timeout=5).status_code == 200
    finally:
        for s in opened:
            s.close()


def test_proctor_events_take_any_payload_shape_with_a_refusal(app: Flask, seated: Any) -> None:
    """The console's events are staff-only, but a broken or hostile console must not crash them either."""
    from exam_server.delivery.notify import PROCTOR_NS
    from exam_server.extensions import socketio

    staff = app.test_client()
    seated.staff_login(staff, "staff")
    sock = seated.proctor_socket(app, staff)
    assert sock.is_connected(PROCTOR_NS)
    huge = 10**30
    odd: list[Any] = [None, [], "room", 7, True, {"room_id": huge}, {"room_id": str(huge)}, {"attempt_id": huge},
                      {"attempt_id": "9" * 40}, {"attempt_id": True}, {"room_id": {"x": 1}}]
    for event in sorted(socketio.server.handlers[PROCTOR_NS]):
        if event in ("connect", "disconnect"):
            continue
        for payload in odd:
            args = () if payload is None else (payload,)
            ack = sock.emit(event, *args, namespace=PROCTOR_NS, callback=True)
            assert isinstance(ack, dict) and ack.get("ok") is False, (event, payload, ack)
        # A sitting id too large for a column is ignored (the room's current sitting), never an overflow.
        odd_session = {"room_id": seated.room1, "session_id": huge, "attempt_id": huge}
        assert isinstance(sock.emit(event, odd_session, namespace=PROCTOR_NS, callback=True), dict), event
        # Wrong types in the free fields: refused or taken as text, never a crash.
        odd_fields = {"room_id": seated.room1, "attempt_id": seated.attempt_ids[0], "text": {"x": 1},
                      "reason": ["r"] * 3, "category": 5, "minutes": "ten", "workstation": {"w": 1}}
        ack = sock.emit(event, odd_fields, namespace=PROCTOR_NS, callback=True)
        if event not in ("seats", "watch"):  # they read no free text
            assert ack.get("error") == "invalid_value", (event, ack)
    assert sock.emit("seats", {"room_id": seated.room1}, namespace=PROCTOR_NS, callback=True)["ok"]

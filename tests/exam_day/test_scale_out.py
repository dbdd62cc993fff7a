"""Scale-out: two `examctl run` processes on one PostgreSQL database with Redis as the Socket.IO message
queue. A candidate connected to process A and a proctor connected to process B see and act on each other."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from typing import Any

import pytest
import requests
import socketio
from conftest import need_service
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from item_bank.db import Base

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
PUSH_BUDGET_S = 2.0  # a pause reaches the screen within this, whichever process it went through


def redis_queue() -> str:
    """The Redis database for this test, emptied; skips (fails under CI) without a Redis server."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.flushdb()
    except Exception as exc:  # any failure to reach it means "not here"
        need_service(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    return REDIS_URL


def empty_postgres(url: str) -> str:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf-token meta"
    return match.group(1)


def logged_in(base: str, path: str, form: dict[str, str]) -> requests.Session:
    http = requests.Session()
    form = dict(form, csrf_token=csrf_of(http.get(f"{base}{path}").text))
    response = http.post(f"{base}{path}", data=form, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return http


class Recorder:
    """A Socket.IO client that keeps every event it receives, with the time it arrived."""

    def __init__(self, base: str, http: requests.Session, namespace: str, events: list[str]) -> None:
        self.namespace = namespace
        self.got: list[tuple[float, str, dict[str, Any]]] = []
        self.arrived = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        for name in events:
            self.client.on(name, self._keeper(name), namespace=namespace)
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        self.client.connect(base, headers={"Cookie": cookie}, namespaces=[namespace], transports=["websocket"],
                            wait_timeout=10)

    def _keeper(self, name: str) -> Any:
        def keep(body: dict[str, Any]) -> None:
            with self.arrived:
                self.got.append((time.monotonic(), name, body))
                self.arrived.notify_all()

        return keep

    def call(self, event: str, body: dict[str, Any]) -> Any:
        return self.client.call(event, body, namespace=self.namespace, timeout=10)

    def wait_for(self, name: str, check: Any, timeout: float) -> tuple[float, dict[str, Any]]:
        """The first `name` event (with the time it arrived) for which `check(body)` holds, as soon as it arrives."""

        def found() -> tuple[float, dict[str, Any]] | None:
            return next(((at, body) for at, got, body in self.got if got == name and check(body)), None)

        with self.arrived:
            match = self.arrived.wait_for(found, timeout)
            if match is None:
                seen = [(n, b) for _, n, b in self.got]
                pytest.fail(f"no {name} event matching within {timeout}s on {self.namespace}; got {seen}")
            return match


def test_a_proctor_on_one_process_sees_and_pauses_a_candidate_on_another(
    exam_day: Any, postgres_server_url: str, poll: Any
) -> None:
    queue = redis_queue()
    exam_day.seed(url=empty_postgres(postgres_server_url))
    a = exam_day.serve(SOCKETIO_MESSAGE_QUEUE=queue)
    b = exam_day.serve(SOCKETIO_MESSAGE_QUEUE=queue)
    attempt_id = exam_day.attempt_ids()[0]
    with Session(exam_day.engine) as s:
        room_id = s.get(Attempt, attempt_id).ticket.seat.room_id
        assert s.scalar(select(Attempt.status).where(Attempt.id == attempt_id)) == "checked_in"

    # The candidate works on process A ...
    number, password = exam_day.login(0)
    candidate_http = logged_in(a.url, "/login", {"ticket": number, "password": password})
    candidate = Recorder(a.url, candidate_http, "/exam", ["attempt_state", "announcement"])
    # ... and the proctor watches the room from process B.
    proctor_http = logged_in(b.url, "/staff/login", {"username": "proctor", "password": "pw-staff"})
    proctor = Recorder(b.url, proctor_http, "/proctor", ["seat", "activity"])
    try:
        watched = proctor.call("watch", {"room_id": room_id})
        assert watched["ok"], watched
        joined = candidate.call("join", {"attempt_id": attempt_id, "workstation": f"ws-{uuid.uuid4().hex[:8]}"})
        assert joined["ok"] and joined["status"] == "checked_in", joined
        assert candidate.call("start", {"attempt_id": attempt_id})["status"] == "in_progress"
        item_id = candidate_http.get(f"{a.url}/api/attempt").json()["items"][0]["item_id"]
        ack = candidate.call("save", {"attempt_id": attempt_id, "item_id": item_id, "value": "A", "seq": 1, "key": "k1"})
        assert ack["ok"], ack

        # What happens on A reaches the proctor's console on B: the start as a pushed seat event, the
        # answer in the seat map the console polls.
        proctor.wait_for("seat", lambda m: m["attempt_id"] == attempt_id and m["status"] == "in_progress", 15)
        seats = proctor.call("seats", {"room_id": room_id})
        mine = next(s for s in seats["seats"] if s.get("attempt_id") == attempt_id)
        assert mine["state"] == "in_progress" and mine["answered"] == 1

        # B knows the candidate's socket is alive on A (else a quiet candidate would show 连接中断 there).
        def seat_on_b() -> dict[str, Any]:
            seats = proctor.call("seats", {"room_id": room_id})["seats"]
            return next(s for s in seats if s.get("attempt_id") == attempt_id)

        poll(lambda: seat_on_b()["connected"], 20, "process B to see the socket held by process A")

        # The proctor pauses through B's HTTP API; the candidate's screen on A hears it at once.
        csrf = csrf_of(proctor_http.get(f"{b.url}/proctor/rooms/{room_id}").text)
        sent = time.monotonic()
        reply = proctor_http.post(f"{b.url}/proctor/attempts/{attempt_id}/pause", json={"reason": "考生身体不适"},
                                  headers={"X-CSRFToken": csrf})
        assert reply.status_code == 200 and reply.json()["status"] == "paused", reply.text
        at, state = candidate.wait_for("attempt_state", lambda m: m["status"] == "paused", 15)
        assert at - sent < PUSH_BUDGET_S, f"the pause took {at - sent:.2f}s to reach process A's candidate"
        refused = candidate.call("save", {"attempt_id": attempt_id, "item_id": item_id, "value": "B", "seq": 2,
                                          "key": "k2"})
        assert refused["ok"] is False and refused["error"] == "paused"

        # Resuming over B's socket: the candidate on A runs again with the time the pause kept.
        resumed = proctor.call("resume", {"attempt_id": attempt_id, "reason": "已恢复"})
        assert resumed["ok"], resumed
        _, state = candidate.wait_for("attempt_state", lambda m: m["status"] == "in_progress", 15)
        assert abs(state["remaining_s"] - exam_day.remaining_s(attempt_id)) < 2
        ack = candidate.call("save", {"attempt_id": attempt_id, "item_id": item_id, "value": "B", "seq": 3, "key": "k3"})
        assert ack["ok"], ack
        assert exam_day.answers(attempt_id) == {item_id: "B"}
    finally:
        candidate.client.disconnect()
        proctor.client.disconnect()

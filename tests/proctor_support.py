"""Shared pieces of the proctoring tests: a seated sitting with two rooms and their proctors,
logins, and Socket.IO clients on /exam and /proctor.

A test module loads it with `pytest_plugins = ["proctor_support"]` and reaches the helpers through
the `seated` fixture (importing names from here as well would shadow the fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_PAPER, csrf_token_from
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

STAFF_PASSWORD = "pw-staff"


@pytest.fixture(autouse=True)
def request_scoped_g(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The `app` fixture holds one application context for the whole test, so every request and
    Socket.IO event would share `g` — and with it Flask-Login's cached user and Flask-WTF's token.
    In production each request and event has its own context; here each client call starts clean,
    so one client never acts as another (which would make authorisation tests meaningless)."""
    from flask_socketio.test_client import SocketIOTestClient

    def clear() -> None:
        if not has_app_context():  # a call from a test's own thread: there is no shared `g` to clean
            return
        for name in ("_login_user", "csrf_token"):
            g.pop(name, None)

    def wrap(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            clear()
            try:
                return original(self, *args, **kwargs)
            finally:
                clear()

        monkeypatch.setattr(cls, name, call)

    wrap(FlaskClient, "open")
    for name in ("connect", "disconnect", "emit"):
        wrap(SocketIOTestClient, name)
    # Socket connections are remembered per process; ids restart with every test's fresh database.
    from exam_server.delivery import events

    events._connections.clear()
    yield
    events._connections.clear()


@dataclass
class Seated:
    """A sitting of `n` candidates: all but the last in room 1 (proctor "proctor"), the last moved
    to room 2 (proctor "proctor2"); centre staff "staff". Nobody is checked in."""

    seeded: Any
    attempt_ids: list[int]
    room1: int
    room2: int

    @property
    def other_room_attempt(self) -> int:
        return self.attempt_ids[-1]

    # The module's helpers, reachable from the fixture so test modules import nothing from here.
    @staticmethod
    def staff_login(client: FlaskClient, username: str) -> str:
        return staff_login(client, username)

    @staticmethod
    def post_json(client: FlaskClient, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        return post_json(client, path, token, body)

    @staticmethod
    def exam_socket(app: Flask, client: FlaskClient) -> Any:
        return exam_socket(app, client)

    @staticmethod
    def proctor_socket(app: Flask, client: FlaskClient) -> Any:
        return proctor_socket(app, client)

    def candidate_login(self, client: FlaskClient, index: int = 0) -> str:
        number, password, _ = self.seeded.logins[index]
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"ticket": number, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return csrf_token_from(client.get("/exam").get_data(as_text=True))


def staff_login(client: FlaskClient, username: str) -> str:
    """Log a staff member in through the form; returns a CSRF token for JSON writes."""
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": STAFF_PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return token


def post_json(client: FlaskClient, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, json=body or {}, headers={"X-CSRFToken": token})


def seed_seated(session: Session, bank: Path, n: int = 4, check_in_all: bool = False) -> Seated:
    from exam_server.core.models import User
    from exam_server.core.security import hash_password
    from exam_server.delivery.models import Attempt
    from exam_server.demo import seed_exam
    from exam_server.sessions.models import Room, Seat, Site, Ticket
    from exam_server.sessions.operations import assign_seat, create_room

    seeded = seed_exam(session, bank_path=bank, sections=SMALL_PAPER, n_candidates=n, hash_profile="low",
                       staff_password=STAFF_PASSWORD, check_in_all=check_in_all)
    site = session.scalar(select(Site))
    room1 = session.scalar(select(Room).where(Room.site_id == site.id, Room.code == "01"))
    room2 = create_room(session, site, code="02", name="第2考场", seats=10, actor="test")
    last = session.scalar(select(Ticket).where(Ticket.number == seeded.logins[-1][0]))
    seat = session.scalar(select(Seat).where(Seat.room_id == room2.id, Seat.number == 1))
    assign_seat(session, last, seat, "test")
    session.add(User(username="proctor2", display_name="监考员 二号", roles=["proctor"], room_id=room2.id,
                     password_hash=hash_password(STAFF_PASSWORD, "low")))
    session.add(User(username="proctor0", display_name="监考员 无考场", roles=["proctor"],
                     password_hash=hash_password(STAFF_PASSWORD, "low")))
    session.commit()
    ids = list(session.scalars(select(Attempt.id).order_by(Attempt.ticket_id)))
    return Seated(seeded, ids, room1.id, room2.id)


@pytest.fixture
def seated(app: Flask, session: Session, small_bank_csv: Path) -> Seated:
    return seed_seated(session, small_bank_csv)


def exam_socket(app: Flask, client: FlaskClient) -> Any:
    from exam_server.extensions import socketio

    return socketio.test_client(app, namespace="/exam", flask_test_client=client)


def proctor_socket(app: Flask, client: FlaskClient) -> Any:
    from exam_server.extensions import socketio

    return socketio.test_client(app, namespace="/proctor", flask_test_client=client)


def received(sock: Any, name: str, namespace: str) -> list[Any]:
    """The arguments of every `name` event the client has received since the last call."""
    return [m["args"][0] for m in sock.get_received(namespace) if m["name"] == name]

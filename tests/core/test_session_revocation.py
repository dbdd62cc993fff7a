"""A login cookie copied before logout, a new password, a disabled account or new roles works no more: not on
HTTP, not for a new socket, and an exam socket opened with it is closed."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from conftest import csrf_token_from, need_service
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.delivery import events, revocation

pytest_plugins = ["proctor_support"]

NS = "/exam"
STRONG = "tiger-lamp-river-42"


def copy_login(source: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding a copy of `source`'s session cookie (what a thief would replay)."""
    cookie = source.get_cookie("session", domain="localhost")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value, domain="localhost")
    return thief


def logout(client: FlaskClient) -> None:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def staff_page_status(client: FlaskClient) -> int:
    return client.get("/staff/sessions").status_code


def test_a_staff_cookie_copied_before_logout_is_refused_after_it(app: Flask, seated: Any) -> None:
    client = app.test_client()
    seated.staff_login(client, "staff")
    thief = copy_login(client, app)
    assert staff_page_status(thief) == 200  # the copy works while the session lasts
    logout(client)
    assert staff_page_status(thief) == 302  # sent to the login page
    assert staff_page_status(client) == 302
    again = app.test_client()
    seated.staff_login(again, "staff")  # logging in again starts a new session
    assert staff_page_status(again) == 200 and staff_page_status(thief) == 302


def test_a_proctor_socket_with_a_copied_cookie_is_refused_after_logout(app: Flask, seated: Any) -> None:
    client = app.test_client()
    seated.staff_login(client, "proctor")
    thief = copy_login(client, app)
    sock = seated.proctor_socket(app, thief)
    assert sock.is_connected("/proctor")
    assert sock.emit("seats", {"room_id": seated.room1}, namespace="/proctor", callback=True)["ok"]
    logout(client)
    refused = sock.emit("seats", {"room_id": seated.room1}, namespace="/proctor", callback=True)
    assert refused["ok"] is False
    assert not seated.proctor_socket(app, thief).is_connected("/proctor")


def test_a_candidate_cookie_copied_before_logout_is_refused_after_it(app: Flask, seated: Any) -> None:
    client = app.test_client()
    seated.candidate_login(client, 0)
    attempt_id = seated.attempt_ids[0]
    thief = copy_login(client, app)
    assert thief.get("/api/attempt").status_code == 200
    sock = seated.exam_socket(app, thief)
    assert sock.is_connected(NS)
    joined = sock.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0"}, namespace=NS, callback=True)
    assert joined["ok"], joined

    logout(client)
    assert thief.get("/api/attempt").status_code in (302, 401)
    token = csrf_token_from(thief.get("/login").get_data(as_text=True))
    http_join = thief.post(f"/api/attempts/{attempt_id}/join", json={"workstation": "ws-0"},
                           headers={"X-CSRFToken": token})
    assert http_join.status_code in (302, 401)
    # The open socket is closed by the logout (its events are served no more); a new one is refused at connect.
    assert not sock.is_connected(NS)
    assert not events._connections
    assert not seated.exam_socket(app, thief).is_connected(NS)
    # The candidate logs in again and goes on.
    seated.candidate_login(client, 0)
    assert client.get("/api/attempt").status_code == 200


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(
    app: Flask, seated: Any, session: Session
) -> None:
    client = app.test_client()
    seated.staff_login(client, "staff")
    thief = copy_login(client, app)
    page = client.get("/account/password")
    assert page.status_code == 200
    token = csrf_token_from(page.get_data(as_text=True))
    weak = client.post("/account/password", data={"current": "pw-staff", "password": "1", "confirm": "1",
                                                   "csrf_token": token})
    assert weak.status_code == 400 and "密码" in weak.get_data(as_text=True)
    assert staff_page_status(thief) == 200  # a refused change ends nothing
    wrong = client.post("/account/password", data={"current": "nope", "password": STRONG, "confirm": STRONG,
                                                    "csrf_token": token})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    done = client.post("/account/password", data={"current": "pw-staff", "password": STRONG, "confirm": STRONG,
                                                   "csrf_token": token})
    assert done.status_code == 302
    assert staff_page_status(thief) == 302
    assert staff_page_status(client) == 200  # this browser goes on
    logout(client)
    fresh = app.test_client()
    token = csrf_token_from(fresh.get("/staff/login").get_data(as_text=True))
    ok = fresh.post("/staff/login", data={"username": "staff", "password": STRONG, "csrf_token": token})
    assert ok.status_code == 302


def test_a_candidate_cannot_use_the_staff_password_page(app: Flask, seated: Any) -> None:
    client = app.test_client()
    seated.candidate_login(client, 0)
    assert client.get("/account/password").status_code == 403


def test_a_session_cookie_without_an_epoch_is_no_login(app: Flask, seated: Any, session: Session) -> None:
    """A cookie signed before sessions carried their epoch (or forged without one) logs nobody in."""
    staff = _user(session, "staff")
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = f"u:{staff.id}"
        cookie["_fresh"] = True
    assert staff_page_status(client) == 302


def test_a_revocation_reaches_the_sockets_of_every_process_through_redis(
    app: Flask, monkeypatch: Any
) -> None:
    """With a Redis message queue each serving process listens for ended ticket sessions and closes its own
    sockets of that ticket (the process that ended them cannot reach them)."""
    url = "redis://127.0.0.1:6379/0"
    try:
        probe = redis.Redis.from_url(url, socket_timeout=2)
        probe.ping()
    except Exception as exc:
        need_service(f"Redis not reachable at {url}: {exc.__class__.__name__}")
    closed: list[int] = []
    heard = threading.Event()

    def close(ticket_id: int) -> int:
        closed.append(ticket_id)
        if len(closed) >= 2:
            heard.set()
        return 0

    monkeypatch.setattr(revocation, "close_ticket_sockets", close)
    before = probe.pubsub_numsub(revocation.REVOKED_CHANNEL)[0][1]
    threading.Thread(target=revocation._listen_forever, args=(url,), daemon=True).start()
    deadline = time.monotonic() + 10
    while probe.pubsub_numsub(revocation.REVOKED_CHANNEL)[0][1] <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    monkeypatch.setitem(app.config, "SOCKETIO_MESSAGE_QUEUE", url)
    revocation.close_revoked_sockets("t:4242")  # what a logout in another process announces
    revocation.close_revoked_sockets("u:7")  # staff sockets reload their login per event: nothing to close
    assert heard.wait(10)
    # Here at once, and by the listener that stands for every other process (a listener an earlier test started
    # in this process hears it too: it stands for one more process).
    assert len(closed) >= 2 and set(closed) == {4242}

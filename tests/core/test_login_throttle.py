"""Login throttling slows a guesser without locking the real user out: growing delays per account and per client
address (never a lockout on the address alone), the real address only behind a configured proxy, and an unlock
by the proctor (candidates of their room) or the centre (staff), audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import app_config, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server import create_app
from exam_server.core import security
from exam_server.core.models import LoginThrottle, User
from exam_server.sessions.models import Ticket
from item_bank.audit import AuditEvent

pytest_plugins = ["proctor_support"]

ATTACKER = "198.51.100.66"
REAL_USER = "192.0.2.7"


class Clock:
    """The throttle's clock, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(security, "utcnow", fake)
    yield fake


def browser(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def try_staff(client: FlaskClient, username: str, password: str) -> tuple[int, str]:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def try_ticket(client: FlaskClient, number: str, password: str) -> tuple[int, str]:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"ticket": number, "password": password, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def fail(clock: Clock, attempt: Any, times: int) -> None:
    """`times` failed logins, each made as soon as the previous one's delay allows; the last delay is still on."""
    for i in range(times):
        status, page = attempt()
        assert status == 401, page
        if i < times - 1:
            clock.advance(wait_of(page))


def wait_of(page: str) -> int:
    """The seconds a refusal tells the user to wait (0 when it names none)."""
    match = re.search(r"请 (\d+) 秒后再试", page)
    return int(match.group(1)) if match else 0


def test_per_account_delays_grow_and_are_capped(app: Flask, seated: Any, clock: Clock) -> None:
    client = browser(app, ATTACKER)
    waits = []
    for _ in range(10):
        status, page = try_staff(client, "staff", "wrong-guess")
        assert status == 401, page
        waits.append(wait_of(page))
        # A try made while the account waits is refused unread and does not count (nor lengthen the wait).
        if waits[-1]:
            held, page = try_staff(client, "staff", "pw-staff")
            assert held == 429 and wait_of(page) == waits[-1] and "登录尝试过于频繁" in page
        clock.advance(waits[-1])
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    status, _ = try_staff(client, "staff", "pw-staff")
    assert status == 302  # after the delay the right password gets in, and the account's count starts over


def test_a_storm_from_one_address_does_not_keep_the_real_user_out(app: Flask, seated: Any, clock: Clock,
                                                                   session: Session) -> None:
    attacker = browser(app, ATTACKER)
    failures = 0
    while failures < 40:  # as fast as the server lets it, for as long as it likes
        status, page = try_staff(attacker, "staff", "guess")
        failures += status == 401
        if status == 429:
            clock.advance(wait_of(page))
    # The old rule (5 failures lock the address and account for 300 s) would have held everyone out;
    # now the real user, from their own address, waits at most the account's capped delay.
    real = browser(app, REAL_USER)
    status, page = try_staff(real, "staff", "pw-staff")
    if status == 429:
        assert 0 < wait_of(page) <= 60, page
        clock.advance(wait_of(page))
        status, page = try_staff(real, "staff", "pw-staff")
    assert status == 302, page
    # The attacker's own address is held back far longer than the account.
    status, page = try_staff(attacker, "proctor", "guess")
    assert status == 429 and wait_of(page) > 60


def test_candidates_are_throttled_per_ticket_too(app: Flask, seated: Any, clock: Clock) -> None:
    number, password, _ = seated.seeded.logins[0]
    client = browser(app, ATTACKER)
    for _ in range(3):
        assert try_ticket(client, number, "000000")[0] == 401
    status, page = try_ticket(browser(app, REAL_USER), number, password)
    assert status == 429 and "请 1 秒后再试" in page
    clock.advance(1)
    assert try_ticket(browser(app, REAL_USER), number, password)[0] == 302
    # Another candidate from the same address is not held back by the first one's ticket.
    other, other_password, _ = seated.seeded.logins[1]
    assert try_ticket(client, other, other_password)[0] == 302


def _held(session: Session, key: str) -> bool:
    session.rollback()  # a fresh read (another app may have written)
    return session.get(LoginThrottle, key) is not None


def _audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_proctor_unlocks_a_candidate_of_their_room_only(app: Flask, seated: Any, clock: Clock,
                                                            session: Session) -> None:
    mine, my_password, _ = seated.seeded.logins[0]
    theirs, _pw, _ = seated.seeded.logins[-1]  # seated in room 2
    attacker = browser(app, ATTACKER)
    for number in (mine, theirs):
        fail(clock, lambda: try_ticket(attacker, number, "000000"), 5)  # noqa: B023
    proctor = app.test_client()
    seated.staff_login(proctor, "proctor")
    page = proctor.get("/proctor/logins")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert mine in text and theirs not in text  # another room's candidate is not even named
    token = csrf_token_from(text)

    ticket_ids = {t.number: t.id for t in session.scalars(select(Ticket))}
    refused = proctor.post(f"/proctor/logins/{ticket_ids[theirs]}/unlock", data={"csrf_token": token})
    assert refused.status_code == 403
    assert _held(session, f"account:ticket:{theirs}")
    done = proctor.post(f"/proctor/logins/{ticket_ids[mine]}/unlock", data={"csrf_token": token})
    assert done.status_code == 302
    assert not _held(session, f"account:ticket:{mine}")
    unlocked = _audits(session, "login.unlocked")
    assert [(a.actor, a.entity, a.entity_id) for a in unlocked] == [("user:proctor", "ticket", str(ticket_ids[mine]))]
    assert try_ticket(browser(app, REAL_USER), mine, my_password)[0] == 302
    # Centre staff may unlock any room's candidate.
    staff = app.test_client()
    token = seated.staff_login(staff, "staff")
    assert staff.post(f"/proctor/logins/{ticket_ids[theirs]}/unlock", data={"csrf_token": token}).status_code == 302
    assert not _held(session, f"account:ticket:{theirs}")


def test_the_centre_unlocks_a_staff_account_audited(app: Flask, seated: Any, clock: Clock,
                                                    session: Session) -> None:
    attacker = browser(app, ATTACKER)
    fail(clock, lambda: try_staff(attacker, "proctor", "guess"), 6)
    assert try_staff(browser(app, REAL_USER), "proctor", "pw-staff")[0] == 429
    staff = app.test_client()
    seated.staff_login(staff, "staff")
    page = staff.get("/admin/logins")
    assert page.status_code == 200 and "proctor" in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))
    proctor = session.scalar(select(User).where(User.username == "proctor"))
    assert staff.post(f"/admin/users/{proctor.id}/unlock", data={"csrf_token": token}).status_code == 302
    assert [(a.actor, a.entity_id) for a in _audits(session, "login.unlocked")] == [("user:staff", str(proctor.id))]
    assert try_staff(browser(app, REAL_USER), "proctor", "pw-staff")[0] == 302


@pytest.mark.parametrize("username", ["proctor", "author", "grader1"])
def test_other_roles_cannot_unlock(app: Flask, seated: Any, session: Session, username: str) -> None:
    client = app.test_client()
    token = seated.staff_login(client, username)
    staff = session.scalar(select(User).where(User.username == "staff"))
    assert client.get("/admin/logins").status_code == 403
    assert client.post(f"/admin/users/{staff.id}/unlock", data={"csrf_token": token}).status_code == 403
    if username != "proctor":
        assert client.get("/proctor/logins").status_code == 403


def test_a_candidate_cannot_unlock(app: Flask, seated: Any, session: Session) -> None:
    client = app.test_client()
    token = seated.candidate_login(client, 0)
    assert client.get("/proctor/logins").status_code == 403
    assert client.post("/proctor/logins/1/unlock", data={"csrf_token": token}).status_code == 403


def _address_keys(session: Session) -> set[str]:
    session.rollback()  # a fresh read (another app may have written)
    keys = {k for k in session.scalars(select(LoginThrottle.key)) if k.startswith("address:")}
    session.rollback()  # and no transaction left open behind it
    return keys


def test_the_forwarded_address_counts_only_behind_a_configured_proxy(
    app: Flask, seated: Any, session: Session, database_url: str, tmp_path: Any
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    client.post("/staff/login", data={"username": "staff", "password": "x", "csrf_token": token}, headers=forwarded)
    assert _address_keys(session) == {"address:127.0.0.1"}  # a header anyone can send is not believed

    behind_proxy = create_app(app_config(database_url, PROXY_FIX_X_FOR=1, JOBS_QUEUE_DB=str(tmp_path / "q.db"),
                                         JOBS_DIR=str(tmp_path / "jf"), JOBS_UPLOAD_DIR=str(tmp_path / "ju")))
    proxied = behind_proxy.test_client()
    token = csrf_token_from(proxied.get("/staff/login", headers=forwarded).get_data(as_text=True))
    refused = proxied.post("/staff/login", data={"username": "staff", "password": "x", "csrf_token": token},
                           headers=forwarded)
    assert refused.status_code == 401, refused.get_data(as_text=True)
    assert _address_keys(session) == {"address:127.0.0.1", "address:203.0.113.9"}

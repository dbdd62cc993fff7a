"""Ticket passwords are stored as a keyed hash (HMAC-SHA256 under a SECRET_KEY-derived key), not argon2: the right
password logs in, a wrong one does not, an argon2 ticket hash of before still logs in and is rewritten, and staff
passwords stay argon2 (issue 17; the cost per login is benchmarks/logins.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SMALL_PAPER, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.demo import seed_exam
from exam_server.sessions import credentials
from exam_server.sessions.models import Ticket


def test_the_keyed_hash_accepts_the_password_and_refuses_another_or_another_key() -> None:
    stored = credentials.ticket_password_hash("042917", "key-1")
    assert stored.startswith(credentials.TICKET_HASH_PREFIX) and "042917" not in stored
    assert credentials.verify_ticket_password(stored, "042917", "key-1") == (True, False)
    assert credentials.verify_ticket_password(stored, "042918", "key-1") == (False, False)
    assert credentials.verify_ticket_password(stored, "042917", "key-2") == (False, False)
    # Salted: the same password stored twice differs.
    assert credentials.ticket_password_hash("042917", "key-1") != stored
    for broken in ("", None, credentials.TICKET_HASH_PREFIX, credentials.TICKET_HASH_PREFIX + "a$b$c", "$argon2id$x"):
        assert credentials.verify_ticket_password(broken, "042917", "key-1") == (False, False)
    # An argon2 hash of before matches, and says it should be rewritten.
    assert credentials.verify_ticket_password(hash_password("042917", "low"), "042917", "key-1") == (True, True)
    assert credentials.verify_ticket_password(hash_password("042917", "low"), "000000", "key-1") == (False, False)


def _login(client: FlaskClient, number: str, password: str) -> int:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"ticket": number, "password": password, "csrf_token": token}).status_code


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_argon2_ticket_hash_still_logs_in_and_is_rewritten_as_a_keyed_hash_staff_keep_argon2(
    app: Flask, session: Session, small_bank_csv: Path
) -> None:
    seeded = seed_exam(session, bank_path=small_bank_csv, sections=SMALL_PAPER, n_candidates=1,
                       hash_profile="low", staff_password="pw-staff")
    number, password, _name = seeded.logins[0]
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.password_hash.startswith("$argon2")  # hashed at seeding, as before
    wrong = "000000" if password != "000000" else "111111"

    assert _login(app.test_client(), number, wrong) == 401
    session.expire_all()
    assert ticket.password_hash.startswith("$argon2")  # a wrong password rewrites nothing
    assert _login(app.test_client(), number, password) == 302
    session.expire_all()
    assert ticket.password_hash.startswith(credentials.TICKET_HASH_PREFIX)
    assert _login(app.test_client(), number, password) == 302  # and the keyed hash logs in from then on
    assert _login(app.test_client(), number, wrong) == 401

    staff = app.test_client()
    token = csrf_token_from(staff.get("/staff/login").get_data(as_text=True))
    assert staff.post("/staff/login", data={"username": "staff", "password": "pw-staff",
                                            "csrf_token": token}).status_code == 302
    hashes = session.scalars(select(User.password_hash)).all()
    assert hashes and all(h.startswith("$argon2") for h in hashes)

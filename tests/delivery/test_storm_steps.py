"""What a whole centre does at once (issue 17). A room's 交卷: a submit is the path of join and start — one locked
read of the attempt's state, the earlier acknowledgement of its key, prepared writes and one commit; the pushes
after it read nothing. A restart's rejoin: a page that holds every acknowledged answer is not sent them again."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import Sitting, exam_socket
from delivery_support import save, started, statements_sent
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import exam_server.pipeline as pipeline
from exam_server.delivery import store
from exam_server.delivery.chain import verify_attempt
from exam_server.delivery.models import Attempt, AttemptEvent
from exam_server.extensions import db
from item_bank.db import utcnow

NS = "/exam"


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the app's engine runs from now on (the caller removes nothing: the app ends with it)."""
    # In the test's app context, not one of its own: leaving one removes the request-scoped session, and the test's
    # `session` (the fixture's) would then open its next transaction outside the app's teardown, left idle in it
    # after the test (the next test's truncation terminated it, and its ROLLBACK failed later, under the GC).
    assert db.engine is not None
    return statements_sent(db.engine, monkeypatch)


def test_a_submit_reads_its_attempt_once_and_its_pushes_read_nothing(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, attempt_id, _items = started(app, client, sitting)
    sock.get_received(NS)
    # Scoring is asked for after the commit and runs in-process in tests: left out of the count.
    monkeypatch.setattr(pipeline, "request_scoring", lambda *_a, **_k: None)
    seen = _statements(monkeypatch)
    ack = sock.emit("submit", {"attempt_id": attempt_id, "key": "ws-0:submit"}, namespace=NS, callback=True)
    assert ack == {"ok": True, "status": "submitted"}
    # Before: the attempt as an ORM object, its sitting, ticket and seat loaded lazily for the minimum-time check
    # and the pushes, the chain's head read again at the flush, the attempt read again for the push: 8 SELECTs.
    # On PostgreSQL the transaction's BEGIN is sent in front of its first statement (item_bank.db).
    kinds = [s.removeprefix("BEGIN;\n").split(None, 1)[0].upper() for s in seen]
    assert kinds.count("SELECT") == 2, seen  # the locked state (with sitting, ticket, seat) and the key's ack
    assert kinds.count("INSERT") == 2 and kinds.count("UPDATE") == 2, seen

    pushed = [m["args"][0] for m in sock.get_received(NS) if m["name"] == "attempt_state"]
    assert pushed == [{"attempt_id": attempt_id, "status": "submitted", "remaining_s": 0.0, "reason": "submitted",
                       "submit_text": ""}]
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert (attempt.status, attempt.submit_reason, attempt.submit_note, attempt.misconduct_code) == (
        "submitted", "candidate", "", "")
    assert attempt.submitted_at is not None and attempt.remaining_s == 0.0 and attempt.deadline_at is None
    kinds = session.execute(select(AttemptEvent.kind, AttemptEvent.actor, AttemptEvent.key, AttemptEvent.ack)
                            .where(AttemptEvent.attempt_id == attempt_id).order_by(AttemptEvent.id)).all()
    assert [tuple(k) for k in kinds[-2:]] == [("submitted", "candidate", None, None),
                                             ("submit_ack", "candidate", "ws-0:submit", ack)]
    report = verify_attempt(session, attempt_id)
    assert report is not None and report.ok  # the prepared writes extend the hash chain like the ORM's

    # The same key again: the first acknowledgement, nothing written.
    seen.clear()
    assert sock.emit("submit", {"attempt_id": attempt_id, "key": "ws-0:submit"}, namespace=NS, callback=True) == ack
    assert not [s for s in seen if s.split(None, 1)[0].upper() in ("INSERT", "UPDATE")], seen


def test_a_submit_before_the_minimum_time_is_refused_with_the_moment_it_opens(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, _items = started(app, client, sitting)
    attempt = session.get(Attempt, attempt_id)
    attempt.session.min_submit_min = 30
    session.commit()
    ack = sock.emit("submit", {"attempt_id": attempt_id, "key": "early"}, namespace=NS, callback=True)
    assert ack["ok"] is False and ack["error"] == "submit_too_early"
    assert "开考 30 分钟内不得交卷" in ack["message"] and ack["opens_at"]
    session.expire_all()
    assert session.get(Attempt, attempt_id).status == "in_progress"


def test_a_rejoin_that_saw_the_newest_step_acknowledged_is_not_sent_the_answers_again(
    app: Flask, client: FlaskClient, sitting: Sitting, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    first, second = items[0], items[1]
    answer = first["options"][0]["id"]
    assert save(sock, attempt_id, first["item_id"], answer, 1)["ok"]
    assert sock.emit("flag", {"attempt_id": attempt_id, "item_id": second["item_id"], "flagged": True, "seq": 2,
                              "key": "f2"}, namespace=NS, callback=True)["ok"]
    sock.disconnect(namespace=NS)
    seen = _statements(monkeypatch)

    def rejoin(**extra: Any) -> dict[str, Any]:
        again = exam_socket(app, client)
        seen.clear()
        ack = again.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0", **extra}, namespace=NS,
                         callback=True)
        again.disconnect(namespace=NS)
        assert ack["ok"] and ack["last_seq"] == 2 and ack["status"] == "in_progress"
        return dict(ack)

    held = rejoin(seen_seq=2)
    assert held["answers"] is None and held["flags"] is None
    assert not [s for s in seen if "FROM response" in s], seen  # the answers were not even read
    everything = {str(first["item_id"]): {"value": answer, "seq": 1}}
    for stale in ({"seen_seq": 1}, {"seen_seq": True}, {"seen_seq": "2"}, {}):
        ack = rejoin(**stale)  # a page behind, a malformed value or none (a fresh page, the HTTP fallback)
        assert {k: {"value": v["value"], "seq": v["seq"]} for k, v in ack["answers"].items()} == everything
        assert ack["flags"] == [second["item_id"]]


def _rejoin(app: Flask, client: FlaskClient, attempt_id: int, workstation: str = "ws-0",
            **extra: Any) -> dict[str, Any]:
    sock = exam_socket(app, client)
    ack = sock.emit("join", {"attempt_id": attempt_id, "workstation": workstation, **extra}, namespace=NS,
                    callback=True)
    sock.disconnect(namespace=NS)
    return dict(ack)


def test_a_quiet_rejoin_is_one_unlocked_read(app: Flask, client: FlaskClient, sitting: Sitting,
                                             session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart's rejoin: the same workstation, a running clock, recent activity, every answer held. Nothing to
    write, so no write lock (SQLite) or row lock (PostgreSQL) and no transaction: the attempt's state, read once."""
    sock, attempt_id, items = started(app, client, sitting)
    assert save(sock, attempt_id, items[0]["item_id"], items[0]["options"][0]["id"], 1)["ok"]
    sock.disconnect(namespace=NS)
    seen = _statements(monkeypatch)
    again = exam_socket(app, client)
    seen.clear()
    writes: list[Any] = []  # a transaction that may write (SQLite's write lock, PostgreSQL's row lock) begins here
    monkeypatch.setattr(store, "begin_write", lambda session: writes.append(session))
    ack = again.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0", "seen_seq": 1}, namespace=NS,
                     callback=True)
    sent = list(seen)
    again.disconnect(namespace=NS)
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT"), [s[:60] for s in sent]
    assert "FOR UPDATE" not in sent[0].upper() and writes == []
    assert ack["ok"] and ack["status"] == "in_progress" and ack["last_seq"] == 1
    assert ack["answers"] is None and ack["flags"] is None and ack["submit_text"] == ""
    attempt = session.get(Attempt, attempt_id)
    assert ack["duration_s"] == attempt.session.duration_s and 0 < ack["remaining_s"] <= ack["duration_s"]


def test_a_rejoin_that_must_change_something_takes_the_locked_join(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    assert save(sock, attempt_id, items[0]["item_id"], items[0]["options"][0]["id"], 1)["ok"]
    sock.disconnect(namespace=NS)

    # Another workstation is still held for the proctor.
    assert _rejoin(app, client, attempt_id, workstation="ws-other", seen_seq=1)["error"] == "awaiting_move"
    session.expire_all()
    assert session.get(Attempt, attempt_id).pending_workstation == "ws-other"

    # Activity older than a minute is brought up to date.
    attempt = session.get(Attempt, attempt_id)
    attempt.last_activity_at = stale = utcnow() - dt.timedelta(minutes=5)
    session.commit()
    assert _rejoin(app, client, attempt_id, seen_seq=1)["ok"]
    session.expire_all()
    assert session.get(Attempt, attempt_id).last_activity_at > stale + dt.timedelta(minutes=4)

    # Another candidate's attempt is refused, however quiet its state.
    other = sitting.attempt_ids[1]
    assert _rejoin(app, client, other, seen_seq=0)["error"] == "not_your_attempt"

    # A clock that ran out submits the attempt.
    attempt = session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() - dt.timedelta(seconds=5)
    session.commit()
    ack = _rejoin(app, client, attempt_id, seen_seq=1)
    assert ack["ok"] and ack["status"] == "submitted"
    session.expire_all()
    assert session.get(Attempt, attempt_id).status in ("submitted", "scored")  # tests score in-process

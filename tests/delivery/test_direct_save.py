"""On SQLite a save or flag runs in a direct write (item_bank.db.DirectWriteSession): its statements prepared on a
pooled driver connection in one BEGIN IMMEDIATE transaction, without a session transaction or SQLAlchemy connection
(issue 17, saturation). What it stores is a save's as ever, and a step refused after its write began lets the lock
and the connection go."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Sitting
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from exam_server.delivery.chain import item_refs, verify_attempt
from exam_server.delivery.models import Attempt, Response
from exam_server.extensions import db

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NS = "/exam"


@contextmanager
def _transactions_begun() -> Iterator[list[Any]]:
    """The SQLAlchemy transactions the application's engine begins meanwhile."""
    assert db.engine is not None
    begun: list[Any] = []

    def listener(conn: Any) -> None:
        begun.append(conn)

    event.listen(db.engine, "begin", listener)
    try:
        yield begun
    finally:
        event.remove(db.engine, "begin", listener)


def test_a_save_and_a_flag_write_without_a_session_transaction_and_store_what_they_did(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    # The paper's items and their references are read once per process, through the session: before counting.
    assert save(sock, attempt_id, items[2]["item_id"], "A", 1, key="warm")["ok"]
    item_refs(session, [item["item_id"] for item in items])
    session.commit()  # the test's session is the handlers' (one thread): nothing of its own left open
    with _transactions_begun() as begun:
        assert save(sock, attempt_id, items[0]["item_id"], "A", 2)["ok"]
        assert save(sock, attempt_id, items[0]["item_id"], "B", 3)["ok"]  # changes its response row
        flagged = sock.emit("flag", {"attempt_id": attempt_id, "item_id": items[1]["item_id"], "flagged": True,
                                     "seq": 4, "key": "k4"}, namespace=NS, callback=True)
        assert flagged["ok"]
        assert save(sock, attempt_id, items[0]["item_id"], "C", 3, key="k3")["seq"] == 3  # a resend: its first ack
    assert begun == []
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    session.expire_all()
    rows = {r.item_version_id: (r.value, r.seq, r.flagged) for r in session.scalars(
        select(Response).where(Response.attempt_id == attempt_id))}
    assert rows == {items[0]["item_id"]: ("B", 3, False), items[1]["item_id"]: (None, 0, True),
                    items[2]["item_id"]: ("A", 1, False)}
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None and attempt.last_seq == 4 and attempt.answered_count == 2
    report = verify_attempt(session, attempt_id)
    assert report is not None and report.ok


def test_a_save_refused_after_its_write_began_lets_the_lock_go(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    single = next(i for i in items if i["type"] == "single")
    session.commit()
    # Both are refused after the locked read, inside the direct write: a value the item does not allow, an item
    # not on the paper.
    assert save(sock, attempt_id, single["item_id"], "Z", 1)["error"] == "invalid_value"
    assert save(sock, attempt_id, 999999, "A", 2)["error"] == "unknown_item"
    assert db.engine is not None and db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with db.engine.begin() as conn:  # another writer gets the lock at once (a held one would wait 30 s)
        conn.exec_driver_sql("UPDATE attempt SET remaining_s = remaining_s WHERE id = ?", (attempt_id,))
    assert save(sock, attempt_id, single["item_id"], "A", 3)["ok"]
    session.expire_all()
    assert session.scalar(select(Response.value).where(Response.attempt_id == attempt_id)) == "A"


def test_a_start_writes_in_a_direct_write_too(app: Flask, client: FlaskClient, sitting: Sitting,
                                              session: Session) -> None:
    """A room's starts share the group commits of the saves around them (item_bank.db.GroupCommit) instead of
    waiting in line for SQLite's lock between two groups."""
    from conftest import exam_socket

    sitting.login(client, 0)
    sock = exam_socket(app, client)
    attempt_id = sitting.attempt_ids[0]
    assert sock.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0"}, namespace=NS, callback=True)["ok"]
    session.commit()
    with _transactions_begun() as begun:
        ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
    assert ack["ok"] and ack["status"] == "in_progress" and ack["paper"]
    assert begun == [] and db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None and attempt.status == "in_progress" and attempt.deadline_at is not None
    report = verify_attempt(session, attempt_id)
    assert report is not None and report.ok

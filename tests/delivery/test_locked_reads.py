"""On PostgreSQL a step's read of its attempt waits for the attempt's lock and then sees what the step that held the
lock committed: the answer it saved, not the answer before it.

`SELECT … FOR UPDATE OF attempt` with the response joined re-reads only the locked attempt row once the lock is
granted; the joined response row comes from the snapshot taken before the wait. A save of seq 3 that waited for a save
of seq 4 of the same item then read the response as it was before seq 4 and wrote seq 3 over it: an acknowledged
answer lost (`benchmarks/load.py --backend postgresql --processes 2 --candidates 5000` found one, issue 17).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import Sitting
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from exam_server.delivery import steps, store
from exam_server.extensions import db
from item_bank.db import make_engine

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _hold_the_lock_and_save(database_url: str, attempt_id: int, item_id: int, value: str, seq: int) -> Any:
    """Another server process in the middle of a save: the attempt locked, the response changed, not committed."""
    engine = make_engine(database_url)
    conn = engine.connect()
    conn.execute(text("SELECT id FROM attempt WHERE id = :a FOR UPDATE"), {"a": attempt_id})
    conn.execute(text("UPDATE response SET value = :v, seq = :s WHERE attempt_id = :a AND item_version_id = :i"),
                 {"v": f'"{value}"', "s": seq, "a": attempt_id, "i": item_id})
    return engine, conn


def _in_a_thread(app: Flask, work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        with app.app_context(), Session(db.engine) as session:
            out["result"] = work(session)
            session.commit()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _release_after_it_waits(thread: threading.Thread, engine: Any, conn: Any) -> None:
    time.sleep(0.5)
    assert thread.is_alive()  # it waits for the lock
    conn.commit()
    conn.close()
    engine.dispose()
    thread.join(10)


def test_a_read_that_waited_for_the_lock_sees_the_committed_answer(
        app: Flask, client: FlaskClient, sitting: Sitting, database_url: str) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item_id = items[0]["item_id"]
    first, newer = (option["id"] for option in items[0]["options"][:2])
    assert save(sock, attempt_id, item_id, first, 1)["ok"]
    engine, conn = _hold_the_lock_and_save(database_url, attempt_id, item_id, newer, 4)
    thread, out = _in_a_thread(app, lambda session: store.item_step_row(session, attempt_id, item_id, "k3"))
    _release_after_it_waits(thread, engine, conn)
    row = out["result"]
    assert (row.value, row.value_seq) == (newer, 4)


def test_a_lower_seq_that_waited_does_not_overwrite_the_higher_one(
        app: Flask, client: FlaskClient, sitting: Sitting, database_url: str) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item = next(item for item in items if item["type"] == "single" and len(item["options"]) >= 3)
    item_id = item["item_id"]
    first, newer, older = (option["id"] for option in item["options"][:3])
    assert save(sock, attempt_id, item_id, first, 1)["ok"]
    with app.app_context():
        candidate_id = db.session.execute(text("SELECT candidate_id FROM attempt WHERE id = :a"),
                                          {"a": attempt_id}).scalar()
        db.session.rollback()
    engine, conn = _hold_the_lock_and_save(database_url, attempt_id, item_id, newer, 4)
    thread, out = _in_a_thread(app, lambda session: steps.save_answer(
        session, candidate_id, attempt_id, item_id, older, 3, "k3", "ws-0"))
    _release_after_it_waits(thread, engine, conn)
    assert out["result"]["ok"], out  # acknowledged: received, and kept below the newer answer
    with app.app_context():
        stored = db.session.execute(text("SELECT value, seq FROM response WHERE attempt_id = :a AND "
                                         "item_version_id = :i"), {"a": attempt_id, "i": item_id}).one()
    assert (stored.value, stored.seq) == (newer, 4)


def test_a_save_is_two_round_trips(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    """BEGIN goes with the locked read and COMMIT with the writes (item_bank.db): under a reconnect storm every
    round trip waits a turn of the server's loop, and a save used to make four (BEGIN, read, writes, COMMIT)."""
    sock, attempt_id, items = started(app, client, sitting)
    item = next(item for item in items if item["type"] == "single")
    first, second = (option["id"] for option in item["options"][:2])
    assert save(sock, attempt_id, item["item_id"], first, 1)["ok"]  # the item's ref is read once per process
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        ack = save(sock, attempt_id, item["item_id"], second, 2)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert ack["ok"], ack
    assert len(sent) == 2, sent
    # Each runs prepared (tests/core/test_server_prepared.py): the lock and the read, then the writes with the COMMIT.
    assert sent[0].startswith("BEGIN;\n") and sent[0].count("EXECUTE exam_") == 2, sent
    assert sent[1].count("EXECUTE exam_") == 1 and sent[1].endswith(";\nCOMMIT"), sent
    with app.app_context():
        stored = db.session.execute(text("SELECT value, seq FROM response WHERE attempt_id = :a AND "
                                         "item_version_id = :i"), {"a": attempt_id, "i": item["item_id"]}).one()
    assert (stored.value, stored.seq) == (second, 2)

"""Pooled connections the database server dropped: pinged after idling, a candidate's step run again.

Pinging every connection before every use would cost each saved answer one more round trip, so the
pool pings only connections that sat idle, and what runs on one that died in use is repeated once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Sitting
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, literal, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from exam_server.core.database import ping_when_idle
from item_bank.db import make_engine, read_one

# Dropping connections needs a database server.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def drop_connections(url: str) -> int:
    """What a database restart does to every pooled connection: the server closes them."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalar_one())
    finally:
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def test_a_connection_that_idled_is_pinged_and_replaced_when_dead(database_url: str, engine: Engine) -> None:
    ping_when_idle(engine, 0.0)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert drop_connections(database_url) >= 1
    with engine.connect() as conn:  # no error: the ping found it dead, the pool opened another
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first


def test_a_connection_in_steady_use_is_not_pinged(database_url: str, engine: Engine) -> None:
    ping_when_idle(engine, 3600.0)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    drop_connections(database_url)
    with pytest.raises(DBAPIError) as failed, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated


def test_a_single_read_on_a_dropped_connection_is_read_again(database_url: str, engine: Engine) -> None:
    """A login check (read_one) runs before any step that would be run again for it: it repeats itself."""
    ping_when_idle(engine, 3600.0)
    probe = select(literal(1).label("one"))
    assert read_one(engine, probe, {}) == (1,)
    drop_connections(database_url)  # the pool's one connection, in steady use: not pinged
    assert read_one(engine, probe, {}) == (1,)


def test_an_answer_saved_on_a_connection_the_database_dropped_is_saved_again(
    app: Flask, client: FlaskClient, sitting: Sitting, database_url: str
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item = items[0]
    assert save(sock, attempt_id, item["item_id"], item["options"][0]["id"], 1)["ok"]
    assert drop_connections(database_url) >= 1  # the pool's connections, used a moment ago
    ack = save(sock, attempt_id, item["item_id"], item["options"][1]["id"], 2)
    assert ack["ok"] and ack["seq"] == 2
    reader = create_engine(database_url)
    try:
        with reader.connect() as conn:
            stored = conn.execute(
                text("SELECT value, seq FROM response WHERE attempt_id = :a AND item_version_id = :i"),
                {"a": attempt_id, "i": item["item_id"]},
            ).one()
    finally:
        reader.dispose()
    assert (stored.seq, stored.value) == (2, item["options"][1]["id"])


def test_an_answer_sent_over_http_on_a_dropped_connection_is_saved_again(
    app: Flask, client: FlaskClient, sitting: Sitting, database_url: str
) -> None:
    token = sitting.login(client)
    url, headers = f"/api/attempts/{sitting.attempt_ids[0]}", {"X-CSRFToken": token}
    assert client.post(f"{url}/join", json={"workstation": "h", "start": True}, headers=headers).get_json()["ok"]
    item = client.get("/api/attempt").get_json()["items"][0]
    assert drop_connections(database_url) >= 1  # the login check runs on a dropped connection too
    body = {"item_id": item["item_id"], "value": item["options"][0]["id"], "seq": 1, "key": "h1", "workstation": "h"}
    saved = client.post(f"{url}/save", json=body, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["seq"] == 1

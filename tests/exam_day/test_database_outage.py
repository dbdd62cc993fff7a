"""PostgreSQL restarts mid-sitting: while it is down a step is refused as `unavailable` (stored nothing, not
acknowledged), and the same step sent again once it is back is saved; a socket opened meanwhile waits.

A restart is simulated on the test database alone (the server is shared): its connections are ended and new
ones refused (ALLOW_CONNECTIONS false) until the test lets them in again. benchmarks/load.py --chaos
restarts a whole (private) PostgreSQL cluster under load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Sitting
from delivery_support import NS, exam_socket, save, started
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _admin(url: str) -> Any:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def refuse_connections(url: str, refuse: bool) -> None:
    """End every connection to the test database and refuse new ones (what a restart does), or let them in."""
    name = make_url(url).database
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if refuse else "true"}'))
            if refuse:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    finally:
        admin.dispose()


@contextmanager
def database_down(url: str) -> Iterator[None]:
    refuse_connections(url, True)
    try:
        yield
    finally:
        refuse_connections(url, False)


def stored(url: str, attempt_id: int, item_id: int) -> tuple[Any, int] | None:
    reader = create_engine(url)
    try:
        with reader.connect() as conn:
            row = conn.execute(text("SELECT value, seq FROM response WHERE attempt_id = :a AND item_version_id = :i"),
                               {"a": attempt_id, "i": item_id}).one_or_none()
    finally:
        reader.dispose()
    return (row.value, row.seq) if row is not None else None


def test_a_save_while_the_database_is_down_is_refused_and_saved_when_sent_again(
    app: Flask, client: FlaskClient, sitting: Sitting, database_url: str
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    first, second = items[0], items[1]
    assert save(sock, attempt_id, first["item_id"], first["options"][0]["id"], 1)["ok"]
    with database_down(database_url):
        refused = save(sock, attempt_id, second["item_id"], second["options"][1]["id"], 2, key="ws:2")
        assert refused["ok"] is False and refused["error"] == "unavailable" and refused["message"]
        ping = sock.emit("ping_time", {"attempt_id": attempt_id}, namespace=NS, callback=True)
        assert ping["error"] == "unavailable"
    assert stored(database_url, attempt_id, second["item_id"]) is None  # refused, so nothing was stored
    again = save(sock, attempt_id, second["item_id"], second["options"][1]["id"], 2, key="ws:2")
    assert again["ok"] and again["seq"] == 2
    assert stored(database_url, attempt_id, second["item_id"]) == (second["options"][1]["id"], 2)
    assert stored(database_url, attempt_id, first["item_id"]) == (first["options"][0]["id"], 1)
    # And the sitting goes on: a join (as after a reconnect) and a submit.
    assert sock.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0"}, namespace=NS, callback=True)["ok"]
    assert sock.emit("submit", {"attempt_id": attempt_id, "key": "ws:submit"}, namespace=NS, callback=True)["ok"]


def test_an_http_save_while_the_database_is_down_is_a_503_and_saved_when_sent_again(
    app: Flask, client: FlaskClient, sitting: Sitting, database_url: str
) -> None:
    token = sitting.login(client)
    url, headers = f"/api/attempts/{sitting.attempt_ids[0]}", {"X-CSRFToken": token}
    assert client.post(f"{url}/join", json={"workstation": "h", "start": True}, headers=headers).get_json()["ok"]
    item = client.get("/api/attempt").get_json()["items"][0]
    body = {"item_id": item["item_id"], "value": item["options"][0]["id"], "seq": 1, "key": "h1", "workstation": "h"}
    with database_down(database_url):
        refused = client.post(f"{url}/save", json=body, headers=headers)
        assert refused.status_code == 503 and refused.get_json()["error"] == "unavailable"
    assert stored(database_url, sitting.attempt_ids[0], item["item_id"]) is None
    saved = client.post(f"{url}/save", json=body, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["seq"] == 1
    assert stored(database_url, sitting.attempt_ids[0], item["item_id"]) == (item["options"][0]["id"], 1)


def test_a_socket_opened_while_the_database_is_down_waits_for_it(
    app: Flask, client: FlaskClient, sitting: Sitting, database_url: str
) -> None:
    sitting.login(client)
    # The test holds one app context throughout, in which Flask-Login keeps the principal the login
    # loaded; a served connect has its own context and reads the ticket from the database.
    g.pop("_login_user", None)
    refuse_connections(database_url, True)
    back = threading.Timer(1.0, refuse_connections, (database_url, False))
    back.start()
    try:
        sock = exam_socket(app, client)  # its connect checks the login in the database
        assert sock.is_connected(NS)  # accepted once the database was back, not refused
    finally:
        back.join()
    joined = sock.emit("join", {"attempt_id": sitting.attempt_ids[0], "workstation": "ws-0"}, namespace=NS,
                       callback=True)
    assert joined["ok"]

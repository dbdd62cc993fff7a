"""Helpers of the candidate-protocol tests: a started attempt and a save over the socket."""

from __future__ import annotations

import json
from typing import Any

from conftest import Sitting, exam_socket
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from exam_server.delivery import paper
from exam_server.delivery.models import Attempt
from item_bank.db import _Prepared as PreparedStatement  # what SQLite runs past SQLAlchemy's events
from item_bank.models import FormItem

NS = "/exam"


def statements_sent(engine: Engine, monkeypatch: Any) -> list[str]:
    """Every SQL statement `engine` runs from now on, as its driver gets it: through SQLAlchemy (on PostgreSQL a
    transaction's BEGIN rides in front of its first statement, and its COMMIT may ride with its last) and, on SQLite,
    those the store runs prepared (item_bank.db.run_prepared, read_one). A statement PostgreSQL runs prepared
    (item_bank.db.SERVER_PREPARED: its driver gets EXECUTE) is shown as its SQL."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, *_rest: Any) -> None:
        sql = context.statement if context is not None else statement  # as composed, before the engine's rewriting
        begin = "BEGIN;\n" if statement.startswith("BEGIN;\n") and not sql.startswith("BEGIN;\n") else ""
        commit = ";\nCOMMIT" if statement.endswith(";\nCOMMIT") and not sql.endswith(";\nCOMMIT") else ""
        seen.append(begin + sql + commit)

    run = PreparedStatement.run

    def _record_prepared(prepared: Any, driver_connection: Any, params: dict[str, Any]) -> Any:
        seen.append(prepared.sql)
        return run(prepared, driver_connection, params)

    monkeypatch.setattr(PreparedStatement, "run", _record_prepared)
    return seen


def started(app: Flask, client: FlaskClient, sitting: Sitting, index: int = 0,
            headers: dict[str, str] | None = None) -> tuple[Any, int, list[dict]]:
    """Log candidate `index` in, join and start; returns the socket, attempt id and items."""
    sitting.login(client, index)
    sock = exam_socket(app, client, headers)
    assert sock.is_connected(NS)
    attempt_id = sitting.attempt_ids[index]
    joined = sock.emit("join", {"attempt_id": attempt_id, "workstation": f"ws-{index}"}, namespace=NS, callback=True)
    assert joined["ok"] and joined["status"] == "checked_in"
    ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
    assert ack["ok"] and ack["status"] == "in_progress" and 0 < ack["remaining_s"] <= 90 * 60
    items = client.get("/api/attempt").get_json()["items"]
    return sock, attempt_id, items


def save(sock: Any, attempt_id: int, item_id: int, value: Any, seq: int, key: str | None = None) -> dict:
    body = {"attempt_id": attempt_id, "item_id": item_id, "value": value, "seq": seq, "key": key or f"k{seq}"}
    return sock.emit("save", body, namespace=NS, callback=True)


IMAGE_DIGEST = "c" * 64


def give_an_item_an_image(session: Any, sitting: Sitting) -> int:
    """The first item of the sitting's first form gets an image (its links are then each attempt's own); its id."""
    form_id = session.get(Attempt, sitting.attempt_ids[0]).form_id
    with_image = session.scalar(select(FormItem.item_version_id).where(FormItem.form_id == form_id))
    session.execute(text("UPDATE item_version SET media = :m WHERE id = :id"),
                    {"m": json.dumps([{"sha256": IMAGE_DIGEST, "name": "图.png"}]), "id": with_image})
    session.commit()
    session.expire_all()  # the raw UPDATE bypassed the ORM: forget the seeded versions it still holds
    paper.clear_form_cache()
    return int(with_image)

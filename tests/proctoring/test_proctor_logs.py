"""A console's Socket.IO events are logged like a candidate's: each under a request id of its own, with its event
name and the attempt it names, in one line saying who acted and whether it was refused."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask

from exam_server.core.logs import configure_logging

if TYPE_CHECKING:
    from proctor_support import Seated

pytest_plugins = ["proctor_support"]  # fixtures: seated (with its helpers), request_scoped_g

PR = "/proctor"


@pytest.fixture
def json_lines(app: Flask) -> Iterator[io.StringIO]:
    saved = app.config["LOG_FORMAT"], app.config["LOG_LEVEL"]
    app.config.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
    buffer = io.StringIO()
    configure_logging(app).setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    app.config["LOG_FORMAT"], app.config["LOG_LEVEL"] = saved
    configure_logging(app)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_proctor_events_log_a_request_id_each(app: Flask, seated: Seated, json_lines: io.StringIO) -> None:
    client = app.test_client()
    seated.staff_login(client, "proctor")
    sock = seated.proctor_socket(app, client)
    assert sock.emit("watch", {"room_id": seated.room1}, namespace=PR, callback=True)["ok"]
    mine, theirs = seated.attempt_ids[0], seated.other_room_attempt
    assert sock.emit("check_in", {"attempt_id": mine}, namespace=PR, callback=True)["ok"]
    assert not sock.emit("pause", {"attempt_id": theirs, "reason": "x"}, namespace=PR, callback=True)["ok"]
    lines = [line for line in _lines(json_lines) if str(line.get("event", "")).startswith("proctor.")]
    by_event = {line["event"]: line for line in lines if line["logger"] == "exam_server.proctoring.events"}
    assert set(by_event) == {"proctor.watch", "proctor.check_in", "proctor.pause"}, lines
    ids = {line["request_id"] for line in by_event.values()}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)  # an id per event
    assert by_event["proctor.check_in"]["attempt_id"] == mine
    assert "ok by user:proctor" in by_event["proctor.check_in"]["message"]
    assert by_event["proctor.pause"]["attempt_id"] == theirs
    assert "refused: not_your_room" in by_event["proctor.pause"]["message"]

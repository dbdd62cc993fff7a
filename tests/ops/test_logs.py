"""Structured logs: a candidate's save logs a JSON line with its attempt, ticket and request id (socket and HTTP);
an HTTP request's id is the proxy's X-Request-ID when sane, a new one otherwise, and is echoed back."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Sitting
from delivery_support import save, started
from flask import Flask

from exam_server.core.logs import (
    REQUEST_ID_HEADER,
    TextFormatter,
    bound,
    configure_logging,
    new_request_id,
    sane_request_id,
)
from exam_server.jobs import JobContext, job_handler, submit_job

job_log = logging.getLogger("tests.ops.job")


@job_handler("test.ops.logged", label="测试：写日志")
def logged_job(ctx: JobContext) -> dict[str, Any]:
    job_log.info("working")
    return {}


def _logging_into(app: Flask, fmt: str) -> io.StringIO:
    """The app's log at INFO (the tests' apps log only warnings) in `fmt`, written into a buffer."""
    app.config.update(LOG_FORMAT=fmt, LOG_LEVEL="INFO")
    buffer = io.StringIO()
    configure_logging(app).setStream(buffer)  # type: ignore[attr-defined]
    return buffer


@pytest.fixture
def json_lines(app: Flask) -> Iterator[io.StringIO]:
    """The app's log as JSON lines, written into a buffer."""
    saved = app.config["LOG_FORMAT"], app.config["LOG_LEVEL"]
    yield _logging_into(app, "json")
    app.config["LOG_FORMAT"], app.config["LOG_LEVEL"] = saved
    configure_logging(app)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_a_socket_save_logs_a_json_line_with_attempt_ticket_and_request_id(
    app: Flask, sitting: Sitting, json_lines: io.StringIO
) -> None:
    sock, attempt_id, items = started(app, app.test_client(), sitting)
    assert save(sock, attempt_id, items[0]["item_id"], "A", 1)["ok"]
    assert save(sock, attempt_id, items[1]["item_id"], "A", 2)["ok"]
    saves = [line for line in _lines(json_lines) if line.get("event") == "save"]
    assert len(saves) == 2, json_lines.getvalue()
    ticket = sitting.seeded.logins[0][0]
    for line in saves:
        assert line["attempt_id"] == attempt_id and line["ticket"] == ticket
        assert line["level"] == "INFO" and line["message"] == "save ok"
        assert len(line["request_id"]) == 32
    assert saves[0]["request_id"] != saves[1]["request_id"]  # an id per event
    events = {line.get("event") for line in _lines(json_lines)}
    assert {"join", "start", "save"} <= events


def test_an_http_save_logs_under_the_proxys_request_id(app: Flask, sitting: Sitting, json_lines: io.StringIO) -> None:
    client = app.test_client()
    token = sitting.login(client)
    attempt_id = sitting.attempt_ids[0]
    headers = {"X-CSRFToken": token}
    url = f"/api/attempts/{attempt_id}"
    assert client.post(f"{url}/join", json={"workstation": "h", "start": True}, headers=headers).get_json()["ok"]
    items = client.get("/api/attempt").get_json()["items"]
    body = {"item_id": items[0]["item_id"], "value": "A", "seq": 1, "key": "h1", "workstation": "h"}
    response = client.post(f"{url}/save", json=body, headers=headers | {REQUEST_ID_HEADER: "lb-7f3a9c01"})
    assert response.status_code == 200 and response.headers[REQUEST_ID_HEADER] == "lb-7f3a9c01"
    line = next(line for line in _lines(json_lines) if line.get("request_id") == "lb-7f3a9c01")
    assert line["attempt_id"] == attempt_id and line["ticket"] == sitting.seeded.logins[0][0]
    assert line["status"] == 200 and line["message"] == f"POST {url}/save 200"


@pytest.mark.parametrize("sent", ["short", "has space in it", "x" * 65, "id;DROP<script>", "行-12345678"])
def test_an_insane_request_id_is_replaced(app: Flask, sent: str) -> None:
    response = app.test_client().get("/login", headers={REQUEST_ID_HEADER: sent})
    echoed = response.headers[REQUEST_ID_HEADER]
    assert echoed != sent and len(echoed) == 32 and echoed.isalnum()


def test_every_response_carries_a_request_id(app: Flask) -> None:
    first = app.test_client().get("/login").headers[REQUEST_ID_HEADER]
    second = app.test_client().get("/login").headers[REQUEST_ID_HEADER]
    assert first != second


def test_text_lines_carry_the_ids_too(app: Flask, sitting: Sitting) -> None:
    buffer = _logging_into(app, "text")
    sock, attempt_id, items = started(app, app.test_client(), sitting)
    assert save(sock, attempt_id, items[0]["item_id"], "A", 1)["ok"]
    line = next(line for line in buffer.getvalue().splitlines() if "save ok" in line)
    assert f"attempt_id={attempt_id}" in line and "request_id=" in line


def test_an_unknown_log_format_is_refused(app: Flask) -> None:
    app.config["LOG_FORMAT"] = "xml"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging(app)
    app.config["LOG_FORMAT"] = "text"


def test_a_jobs_lines_carry_its_id(app: Flask, json_lines: io.StringIO) -> None:
    job = submit_job("test.ops.logged", {}, actor="cli:test")
    line = next(line for line in _lines(json_lines) if line["message"] == "working")
    assert line["job_id"] == job.id and line["logger"] == "tests.ops.job"


def test_a_text_lines_time_reads_as_the_standard_formatters() -> None:
    """The time of day is made once a second; each line still shows its own second and milliseconds."""
    standard, ours = logging.Formatter(), TextFormatter()
    for created in (1_800_000_000.0, 1_800_000_000.25, 1_800_000_000.999, 1_800_000_001.5, 1_799_999_999.001,
                    1_800_000_000.5):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.formatTime(record) == standard.formatTime(record), created


def test_a_line_from_a_greenlet_is_the_same_line(app: Flask) -> None:
    """Lines no longer look up their thread, process or calling function (a greenlet of its own per Socket.IO event
    made gevent build a thread stand-in for each); nothing a line shows came from them."""
    buffer = _logging_into(app, "text")
    with bound(request_id="r-1", event="save"):
        logging.getLogger("exam_server.delivery.events").info("save ok")
    line = buffer.getvalue().strip()
    assert line.endswith(" INFO exam_server.delivery.events: save ok [request_id=r-1 event=save]"), line
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert record.threadName is None and record.processName is None


def test_request_ids_are_unique_sane_and_not_repeated_by_a_forked_child() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and sane_request_id(i) == i and int(i, 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child[:16] != ids[-1][:16] and child not in ids

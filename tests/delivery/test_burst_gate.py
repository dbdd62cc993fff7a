"""A whole room's burst (starts, paper fetches, reconnects) queues at the gate; saves never do."""

from __future__ import annotations

import threading

from conftest import Sitting, exam_socket
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient

from exam_server.delivery import events

NS = "/exam"


def test_a_save_is_acknowledged_while_a_burst_holds_the_gate_and_a_rejoin_waits_its_turn(
    app: Flask, client: FlaskClient, sitting: Sitting
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    other = app.test_client()
    sitting.login(other, 1)
    late = exam_socket(app, other)
    for _ in range(events.BURST_AT_ONCE):  # a burst in progress: every place at the gate is taken
        events.burst_gate.acquire()
    joined: list[dict] = []
    waiting = threading.Thread(target=lambda: joined.append(late.emit(
        "join", {"attempt_id": sitting.attempt_ids[1], "workstation": "ws-1"}, namespace=NS, callback=True)))
    try:
        waiting.start()
        acks: list[dict] = []
        saving = threading.Thread(target=lambda: acks.append(
            save(sock, attempt_id, items[0]["item_id"], items[0]["options"][0]["id"], 1)), daemon=True)
        saving.start()
        saving.join(60)  # the gate stays full throughout: a save held up by it would never be acknowledged
        assert acks and acks[0]["ok"] and acks[0]["seq"] == 1  # not held up by the burst
        waiting.join(0.5)
        assert waiting.is_alive() and not joined  # the rejoin waits for a place
    finally:
        for _ in range(events.BURST_AT_ONCE):
            events.burst_gate.release()
    waiting.join(60)
    assert joined and joined[0]["ok"] and joined[0]["attempt_id"] == sitting.attempt_ids[1]

"""A whole room's burst (starts, paper fetches, reconnects) queues at the gate, which admits by cost; saves never
queue."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import Sitting, exam_socket
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient

from exam_server.delivery import events, sockets
from exam_server.delivery.gate import CostGate
from exam_server.delivery.models import Attempt
from exam_server.extensions import db, socketio

NS = "/exam"


def test_a_save_is_acknowledged_while_a_burst_holds_the_gate_and_a_rejoin_waits_its_turn(
    app: Flask, client: FlaskClient, sitting: Sitting
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    other = app.test_client()
    sitting.login(other, 1)
    late = exam_socket(app, other)
    # A burst in progress: the whole budget is taken.
    held = events.burst_gate.acquire("test", cost=events.burst_gate.budget_s)
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
        events.burst_gate.release(held, measure=False)
    waiting.join(60)
    assert joined and joined[0]["ok"] and joined[0]["attempt_id"] == sitting.attempt_ids[1]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reconnect_its_client_gave_up_on_while_it_waited_is_not_served_and_takes_no_socket_slot(
    app: Flask, sitting: Sitting
) -> None:
    """After a restart a reconnect can wait at the gate longer than its client does; the client then closes
    that connection and opens another. Serving the abandoned one as well doubled the storm and left a socket
    slot held by a dead connection (three of them lock the candidate out)."""
    client = app.test_client()
    sitting.login(client, 0)
    attempt = db.session.get(Attempt, sitting.attempt_ids[0])
    assert attempt is not None
    before = set(socketio.server.environ)
    held = events.burst_gate.acquire("test", cost=events.burst_gate.budget_s)
    socks: list = []
    connecting = threading.Thread(target=lambda: socks.append(exam_socket(app, client)))
    try:
        connecting.start()
        # The connect waits at the gate. (Its connection is known to the server a moment earlier, before the
        # connect's own packet has looked it up: taking it away then was a race the test could lose.)
        for _ in range(600):
            if events.burst_gate.waiting:
                break
            connecting.join(0.05)
        (gone,) = set(socketio.server.environ) - before
        del socketio.server.environ[gone]  # what the server does when the client closes the connection
    finally:
        events.burst_gate.release(held, measure=False)
    connecting.join(60)
    assert socks and not socks[0].is_connected(NS)
    assert sockets.held_count(None, attempt.candidate_id) == 0
    # The next connect is served as usual.
    again = exam_socket(app, client)
    assert again.is_connected(NS) and sockets.held_count(None, attempt.candidate_id) == 1
    again.disconnect(namespace=NS)


def test_the_gate_admits_by_cost_first_come_first_served_and_learns_each_kinds_cost() -> None:
    gate = CostGate(0.010, {"connect": 0.001, "paper": 0.0075})
    cheap = [gate.acquire("connect") for _ in range(3)]  # 3 ms inside: another 7.5 ms would not fit
    admitted: list[str] = []

    def wait(kind: str) -> None:
        held = gate.acquire(kind)
        admitted.append(kind)
        gate.release(held, measure=False)

    paper = threading.Thread(target=wait, args=("paper",))
    paper.start()
    paper.join(0.2)
    assert paper.is_alive() and gate.waiting == 1
    later = threading.Thread(target=wait, args=("connect",))  # fits the budget, but comes after the paper
    later.start()
    later.join(0.2)
    assert later.is_alive() and gate.waiting == 2 and not admitted
    gate.release(cheap[0], measure=False)  # 2 ms inside: the paper fits now; the connect only once it is done
    paper.join(10)
    later.join(10)
    assert admitted == ["paper", "connect"]
    for held in cheap[1:]:
        gate.release(held, measure=False)
    assert gate.inside_s == 0 and gate.waiting == 0

    alone = gate.acquire("huge", cost=1.0)  # more than the budget: admitted when nothing else is inside
    gate.release(alone)
    assert gate.estimate("huge") < 1.0  # the estimate follows what it measured (a moment, not a second)


def test_a_requests_waits_for_the_database_are_not_its_cost_and_a_queue_is_priced_when_let_in() -> None:
    """Under a stream of saves a start waits a turn of the event loop for its group commit; counted as its cost,
    that wait priced every start above the budget and a room's starts went in one by one (issue 17)."""
    idle = [0.0]
    gate = CostGate(0.010, {"start": 0.004}, idle=lambda: idle[0])
    held = gate.acquire("start")
    idle[0] += 5.0  # it waited five seconds for the database and did next to no work
    gate.release(held)
    assert gate.estimate("start") < 0.004  # not 0.8 × 4 ms + 0.2 × 5 s

    costly = CostGate(0.010, {"start": 0.020})  # the first starts of a burst, on cold caches: above the budget
    first = costly.acquire("start")
    queued: list[Any] = []
    threads = [threading.Thread(target=lambda: queued.append(costly.acquire("start"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        if costly.waiting == 3:
            break
        threading.Event().wait(0.01)
    assert costly.waiting == 3
    costly._estimates["start"] = 0.002  # what the later starts have measured meanwhile (the moving average)
    costly.release(first, measure=False)
    for thread in threads:
        thread.join(10)
    assert len(queued) == 3 and costly.waiting == 0  # all let in together at today's price, not one by one
    assert abs(costly.inside_s - 0.006) < 1e-9
    for held in queued:
        costly.release(held, measure=False)

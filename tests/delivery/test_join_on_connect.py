"""A reconnect carries its join in the connect (`auth={"join": ...}`) and is answered by a `joined` event before the
connect's own packet: after a server restart a whole centre sends one message each instead of two (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Sitting, exam_socket
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from exam_server.delivery import events, sockets, steps
from exam_server.delivery.limits import MAX_PAYLOAD_CHARS
from exam_server.delivery.models import Attempt
from exam_server.extensions import socketio

NS = "/exam"


def _joined(sock: Any) -> list[dict[str, Any]]:
    return [m["args"][0] for m in sock.get_received(NS) if m["name"] == events.JOINED]


def test_a_reconnect_is_joined_by_its_connect(app: Flask, client: FlaskClient, sitting: Sitting,
                                              session: Session) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    first = items[0]
    assert save(sock, attempt_id, first["item_id"], first["options"][0]["id"], 1)["ok"]
    sock.disconnect(namespace=NS)

    again = exam_socket(app, client, auth={"join": {"attempt_id": attempt_id, "workstation": "ws-0", "seen_seq": 1}})
    assert again.is_connected(NS)
    [ack] = _joined(again)
    assert ack["ok"] and ack["attempt_id"] == attempt_id and ack["status"] == "in_progress"
    assert ack["last_seq"] == 1 and ack["answers"] is None  # the page holds every answer: none sent again
    # Joined as the join event would: in the attempt's room (the proctor's pushes reach it) and bound to its
    # workstation (its saves are accepted without a join event).
    sid = socketio.server.manager.sid_from_eio_sid(again.eio_sid, NS)
    assert f"attempt:{attempt_id}" in socketio.server.rooms(sid, NS)
    second = items[1]
    assert save(again, attempt_id, second["item_id"], second["options"][1]["id"], 2)["ok"]
    again.disconnect(namespace=NS)

    # A fresh page (no seen_seq) is sent every answer.
    fresh = exam_socket(app, client, auth={"join": {"attempt_id": attempt_id, "workstation": "ws-0"}})
    [ack] = _joined(fresh)
    assert set(ack["answers"]) == {str(first["item_id"]), str(second["item_id"])} and ack["last_seq"] == 2
    fresh.disconnect(namespace=NS)

    # A connect without a join is answered by nothing but the connect (the page's first connect before this
    # change, the HTTP fallback's socket): the join event still works.
    plain = exam_socket(app, client)
    assert plain.is_connected(NS) and _joined(plain) == []
    assert plain.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0", "seen_seq": 2}, namespace=NS,
                      callback=True)["ok"]
    plain.disconnect(namespace=NS)
    assert session.get(Attempt, attempt_id).status == "in_progress"


def test_a_join_the_connect_carries_is_refused_in_its_answer(app: Flask, client: FlaskClient,
                                                             sitting: Sitting) -> None:
    sock, attempt_id, _items = started(app, client, sitting)
    sock.disconnect(namespace=NS)
    other = sitting.attempt_ids[1]
    cases = [
        ({"attempt_id": other, "workstation": "ws-0", "seen_seq": 0}, "not_your_attempt"),  # another candidate's
        ({"attempt_id": attempt_id, "workstation": "ws-other"}, "awaiting_move"),  # another workstation: held
        ({"attempt_id": attempt_id, "workstation": "ws-0", "pad": "x" * (MAX_PAYLOAD_CHARS + 1)}, "payload_too_large"),
        ("join me", "not_your_attempt"),  # not an object: names no attempt
    ]
    for join, error in cases:
        again = exam_socket(app, client, auth={"join": join})
        assert again.is_connected(NS)  # the socket stays: the page shows the refusal and asks again later
        [ack] = _joined(again)
        assert not ack["ok"] and ack["error"] == error and ack["message"], (join, ack)
        again.disconnect(namespace=NS)


def test_a_join_that_fails_in_the_connect_gives_its_socket_slot_back(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, attempt_id, _items = started(app, client, sitting)
    sock.disconnect(namespace=NS)
    candidate_id = session.get(Attempt, attempt_id).candidate_id
    before = dict(events._connections)
    assert sockets.held_count(None, candidate_id) == 0

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the join broke")

    monkeypatch.setattr(steps, "join", broken)
    with pytest.raises(RuntimeError):
        exam_socket(app, client, auth={"join": {"attempt_id": attempt_id, "workstation": "ws-0"}})
    assert events._connections == before  # nothing of the refused socket stays
    assert sockets.held_count(None, candidate_id) == 0

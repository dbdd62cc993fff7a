"""The proctor console as a real day found it (issue 14 item 10): search by a Chinese name, one line in the room's
log for a room-wide pause, counts of the candidates it touched, and the extension and announcement the candidate's
screen is told about."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt, AttemptEvent
from exam_server.sessions.models import Candidate, Ticket

if TYPE_CHECKING:
    from proctor_support import Seated

pytest_plugins = ["proctor_support"]  # fixtures: seated (with its helpers), request_scoped_g

EX = "/exam"


def rename(session: Session, seated: Seated, index: int, name: str) -> None:
    ticket = session.scalar(select(Ticket).where(Ticket.number == seated.seeded.logins[index][0]))
    assert ticket is not None
    candidate = session.get(Candidate, ticket.candidate_id)
    assert candidate is not None
    candidate.name = name
    session.commit()


def admitted(app: Flask, seated: Seated, index: int, start: bool) -> Any:
    """Candidate `index` (room 1) checked in by the proctor, joined, and started if `start`; returns their socket."""
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    attempt_id = seated.attempt_ids[index]
    assert seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/check_in", token).status_code == 200
    client = app.test_client()
    seated.candidate_login(client, index)
    sock = seated.exam_socket(app, client)
    assert sock.emit("join", {"attempt_id": attempt_id, "workstation": f"ws-{index}"}, namespace=EX,
                     callback=True)["ok"]
    if start:
        ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=EX, callback=True)
        assert ack["ok"] and ack["status"] == "in_progress", ack
    return sock


def test_search_by_a_chinese_name_of_two_or_three_characters(app: Flask, seated: Seated, session: Session) -> None:
    rename(session, seated, 0, "司马光")
    rename(session, seated, len(seated.attempt_ids) - 1, "司马迁")  # seated in room 2
    proctor = app.test_client()
    seated.staff_login(proctor, "proctor")

    def found(client: Any, room: int, query: str) -> list[str]:
        body = client.get(f"/proctor/rooms/{room}/find", query_string={"q": query}).get_json()
        return sorted(c["name"] for c in body["candidates"])

    assert found(proctor, seated.room1, "司马光") == ["司马光"]
    # Two characters are a name too; another room's candidate is never found by name (only by the document).
    assert found(proctor, seated.room1, "司马") == ["司马光"]
    assert found(proctor, seated.room1, "司马迁") == []
    assert found(proctor, seated.room1, "司") == []
    staff = app.test_client()
    seated.staff_login(staff, "staff")
    assert found(staff, seated.room1, "司马") == ["司马光", "司马迁"]
    # The number rules stand: fewer than 4 characters of a number find nothing.
    assert found(proctor, seated.room1, seated.seeded.logins[0][0][:3]) == []


def test_a_room_pause_is_one_line_and_counts_only_those_answering(
    app: Flask, seated: Seated, session: Session
) -> None:
    answering = admitted(app, seated, 0, start=True)
    admitted(app, seated, 1, start=False)  # admitted, reading the instructions
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    answering.get_received(EX)

    paused = seated.post_json(proctor, f"/proctor/rooms/{seated.room1}/pause_room", token, {"reason": "停电"}).get_json()
    assert paused["ok"] and paused["count"] == 1 and paused["not_started"] == 1
    # Both are held (the second cannot start during the pause), and each attempt's own log records it.
    session.expire_all()
    assert {session.get(Attempt, a).status for a in seated.attempt_ids[:2]} == {"paused"}
    assert session.scalar(select(AttemptEvent).where(AttemptEvent.attempt_id == seated.attempt_ids[0],
                                                     AttemptEvent.kind == "paused")) is not None
    resumed = seated.post_json(proctor, f"/proctor/rooms/{seated.room1}/resume_room", token, {}).get_json()
    assert resumed["ok"] and resumed["count"] == 1 and resumed["not_started"] == 1

    # One candidate paused alone afterwards is still a line of their own.
    seated.post_json(proctor, f"/proctor/attempts/{seated.attempt_ids[0]}/pause", token, {"reason": "身体不适"})
    activity = proctor.get(f"/proctor/rooms/{seated.room1}/seats").get_json()["activity"]
    lines = [(a["who"], a["kind"]) for a in activity if a["kind"] in ("paused", "resumed", "pause_room", "resume_room")]
    assert lines[0][1] == "paused" and lines[0][0].endswith(seated.seeded.logins[0][2])
    assert lines[1:] == [("全场", "resume_room"), ("全场", "pause_room")]
    room_pause = next(a for a in activity if a["kind"] == "pause_room")
    assert room_pause["payload"] == {"reason": "停电", "count": 1, "not_started": 1}


def test_the_candidate_is_told_of_an_extension_and_an_announcements_time(
    app: Flask, seated: Seated, session: Session
) -> None:
    sock = admitted(app, seated, 0, start=True)
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    sock.get_received(EX)
    ack = seated.post_json(proctor, f"/proctor/attempts/{seated.attempt_ids[0]}/extend", token,
                           {"minutes": "15", "reason": "电脑故障"}).get_json()
    assert ack["ok"]
    received = [(m["name"], m["args"][0]) for m in sock.get_received(EX)]
    kinds = [name for name, _ in received]
    # The sentence comes before the new time, so the clock never jumps unexplained.
    assert kinds.index("time_extended") < kinds.index("attempt_state")
    told = next(body for name, body in received if name == "time_extended")
    assert told["seconds"] == 900 and told["attempt_id"] == seated.attempt_ids[0] and told["at"].endswith("Z")

    seated.post_json(proctor, f"/proctor/rooms/{seated.room1}/announce", token, {"text": "请保持安静"})
    [notice] = [body for m in sock.get_received(EX) if m["name"] == "announcement" for body in m["args"]]
    assert notice["text"] == "请保持安静" and notice["at"].endswith("Z")

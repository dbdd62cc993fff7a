"""The proctor's rules over HTTP and Socket.IO: check-in, the room scope, every action, the seat map."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.delivery.models import Attempt, AttemptEvent

if TYPE_CHECKING:
    from proctor_support import Seated

pytest_plugins = ["proctor_support"]  # fixtures: seated (with its helpers), request_scoped_g

EX, PR = "/exam", "/proctor"


def events_of(session: Session, attempt_id: int, kind: str | None = None) -> list[AttemptEvent]:
    session.expire_all()
    query = select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id).order_by(AttemptEvent.id)
    if kind:
        query = query.where(AttemptEvent.kind == kind)
    return list(session.scalars(query))


def attempt(session: Session, attempt_id: int) -> Attempt:
    session.expire_all()
    found = session.get(Attempt, attempt_id)
    assert found is not None
    return found


def admitted_and_started(app: Flask, seated: Seated, index: int, workstation: str = "ws-a") -> tuple[Any, FlaskClient]:
    """Check candidate `index` in through the proctor, log them in, join and start; returns their socket."""
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor" if index < len(seated.attempt_ids) - 1 else "proctor2")
    assert seated.post_json(proctor, f"/proctor/attempts/{seated.attempt_ids[index]}/check_in", token).status_code == 200
    client = app.test_client()
    seated.candidate_login(client, index)
    sock = seated.exam_socket(app, client)
    joined = sock.emit("join", {"attempt_id": seated.attempt_ids[index], "workstation": workstation},
                       namespace=EX, callback=True)
    assert joined["ok"], joined
    started = sock.emit("start", {"attempt_id": seated.attempt_ids[index]}, namespace=EX, callback=True)
    assert started["ok"] and started["status"] == "in_progress", started
    return sock, client


def names(sock: Any, namespace: str) -> list[tuple[str, Any]]:
    return [(m["name"], m["args"][0]) for m in sock.get_received(namespace)]


# ---------------------------------------------------------------- check-in


def test_only_admitted_candidates_can_start(app: Flask, seated: Seated, session: Session) -> None:
    client = app.test_client()
    seated.candidate_login(client, 0)
    sock = seated.exam_socket(app, client)
    attempt_id = seated.attempt_ids[0]
    assert sock.emit("join", {"attempt_id": attempt_id, "workstation": "w"}, namespace=EX, callback=True)["status"] == "scheduled"
    refused = sock.emit("start", {"attempt_id": attempt_id}, namespace=EX, callback=True)
    assert refused["ok"] is False and refused["error"] == "not_checked_in"

    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    number = seated.seeded.logins[0][0]
    found = proctor.get(f"/proctor/rooms/{seated.room1}/find?q={number}").get_json()["candidates"]
    assert [c["ticket"] for c in found] == [number] and found[0]["may_admit"] and found[0]["status"] == "scheduled"
    sock.get_received(EX)
    ack = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/check_in", token).get_json()
    assert ack["ok"] and ack["status"] == "checked_in"
    # The waiting screen is told at once.
    states = [a for n, a in names(sock, EX) if n == "attempt_state"]
    assert [(a["status"], a["reason"]) for a in states] == [("checked_in", "checked_in")]
    assert sock.emit("start", {"attempt_id": attempt_id}, namespace=EX, callback=True)["status"] == "in_progress"
    [event] = events_of(session, attempt_id, "checked_in")
    assert event.actor == "user:proctor"


def test_find_by_id_number_and_the_other_room(app: Flask, seated: Seated, session: Session) -> None:
    from exam_server.sessions.models import Candidate, Ticket

    proctor = app.test_client()
    seated.staff_login(proctor, "proctor")
    other = session.scalar(select(Ticket).where(Ticket.number == seated.seeded.logins[-1][0]))
    assert other is not None
    id_number = session.get(Candidate, other.candidate_id).id_number
    for query in (id_number, other.number):
        found = proctor.get(f"/proctor/rooms/{seated.room1}/find?q={query}").get_json()["candidates"]
        assert len(found) == 1 and found[0]["ticket"] == other.number
        # Seated in room 2: the proctor of room 1 is told where to send them, and may not admit them;
        # another room's candidate is never shown with their name or ID number.
        assert found[0]["in_this_room"] is False and found[0]["may_admit"] is False
        assert "第2考场" in found[0]["room"]
        assert found[0]["name"] == "" and found[0]["id_number"] == "" and found[0]["attempt_id"] is None
    # A partial ID number finds only the proctor's own room's candidates; room 2's proctor and centre staff see them.
    assert proctor.get(f"/proctor/rooms/{seated.room1}/find?q={id_number[-6:]}").get_json()["candidates"] == []
    for username, room in (("proctor2", seated.room2), ("staff", seated.room1)):
        other_client = app.test_client()
        seated.staff_login(other_client, username)
        found = other_client.get(f"/proctor/rooms/{room}/find?q={id_number[-6:]}").get_json()["candidates"]
        assert [c["ticket"] for c in found] == [other.number] and found[0]["id_number"] == id_number
    assert proctor.get(f"/proctor/rooms/{seated.room1}/find?q=12").get_json()["candidates"] == []


# ---------------------------------------------------------------- the room scope


def test_a_proctor_acts_only_on_their_own_room_over_http(app: Flask, seated: Seated, session: Session) -> None:
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    theirs = seated.other_room_attempt
    for action, body in [("check_in", {}), ("pause", {}), ("extend", {"minutes": 5, "reason": "x"}),
                         ("force_submit", {"reason": "x"}), ("allow_move", {}),
                         ("incident", {"category": "candidate", "reason": "x"})]:
        response = seated.post_json(proctor, f"/proctor/attempts/{theirs}/{action}", token, body)
        assert response.status_code == 403, (action, response.get_json())
        assert response.get_json()["error"] == "not_your_room"
    for action in ("pause_room", "resume_room", "announce", "room_incident"):
        response = seated.post_json(proctor, f"/proctor/rooms/{seated.room2}/{action}", token,
                             {"text": "x", "category": "environment", "reason": "x"})
        assert response.status_code == 403, action
    assert proctor.get(f"/proctor/rooms/{seated.room2}").status_code == 403
    assert proctor.get(f"/proctor/rooms/{seated.room2}/seats").status_code == 403
    assert proctor.get(f"/proctor/attempts/{theirs}/log").status_code == 403
    assert events_of(session, theirs) == []
    assert attempt(session, theirs).status == "scheduled"

    # Their own room's proctor, and centre staff anywhere, may.
    other = app.test_client()
    token2 = seated.staff_login(other, "proctor2")
    assert seated.post_json(other, f"/proctor/attempts/{theirs}/check_in", token2).status_code == 200
    staff = app.test_client()
    token3 = seated.staff_login(staff, "staff")
    ack = seated.post_json(staff, f"/proctor/attempts/{theirs}/incident", token3,
                    {"category": "staff", "reason": "鉴定中心巡查记录"}).get_json()
    assert ack["ok"], ack
    assert staff.get(f"/proctor/rooms/{seated.room2}").status_code == 200
    rooms = staff.get("/proctor").get_data(as_text=True)
    assert "第1考场" in rooms and "第2考场" in rooms and "进入监考台" in rooms


def test_console_pages_need_a_console_role(app: Flask, seated: Seated) -> None:
    anonymous = app.test_client()
    assert anonymous.get(f"/proctor/rooms/{seated.room1}/seats").status_code in (302, 401)
    candidate = app.test_client()
    seated.candidate_login(candidate, 0)
    assert candidate.get(f"/proctor/rooms/{seated.room1}/seats").status_code in (302, 401, 403)
    grader = app.test_client()
    seated.staff_login(grader, "grader1")
    assert grader.get(f"/proctor/rooms/{seated.room1}/seats").status_code == 403
    lost = app.test_client()
    seated.staff_login(lost, "proctor0")
    assert "还没有被分配监考考场" in lost.get("/proctor").get_data(as_text=True)
    assert lost.get(f"/proctor/rooms/{seated.room1}").status_code == 403
    proctor = app.test_client()
    seated.staff_login(proctor, "proctor")
    response = proctor.get("/proctor")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/proctor/rooms/{seated.room1}")
    page = proctor.get(f"/proctor/rooms/{seated.room1}").get_data(as_text=True)
    assert "第1考场" in page and "入场核验" in page and "全场暂停" in page


def test_json_writes_need_the_csrf_token(app: Flask, seated: Seated, session: Session) -> None:
    proctor = app.test_client()
    seated.staff_login(proctor, "proctor")
    response = proctor.post(f"/proctor/attempts/{seated.attempt_ids[0]}/check_in", json={})
    assert response.status_code == 400
    assert attempt(session, seated.attempt_ids[0]).status == "scheduled"


def test_proctor_socket_is_authorised_like_http(app: Flask, seated: Seated, session: Session) -> None:
    anonymous = seated.proctor_socket(app, app.test_client())
    assert not anonymous.is_connected(PR)
    candidate = app.test_client()
    seated.candidate_login(candidate, 0)
    assert not seated.proctor_socket(app, candidate).is_connected(PR)
    grader = app.test_client()
    seated.staff_login(grader, "grader1")
    assert not seated.proctor_socket(app, grader).is_connected(PR)

    client = app.test_client()
    seated.staff_login(client, "proctor")
    sock = seated.proctor_socket(app, client)
    assert sock.is_connected(PR)
    mine = sock.emit("watch", {"room_id": seated.room1}, namespace=PR, callback=True)
    assert mine["ok"] and len(mine["seats"]) == 30 and mine["counts"]["absent"] == 3
    refused = sock.emit("watch", {"room_id": seated.room2}, namespace=PR, callback=True)
    assert refused == {"ok": False, "error": "not_your_room", "message": "这不是您监考的考场。"}
    assert sock.emit("seats", {"room_id": seated.room2}, namespace=PR, callback=True)["ok"] is False
    assert sock.emit("watch", {"room_id": "1; drop"}, namespace=PR, callback=True)["ok"] is False
    theirs = seated.other_room_attempt
    for action, body in [("check_in", {}), ("pause", {}), ("resume", {}), ("extend", {"minutes": 5, "reason": "x"}),
                         ("force_submit", {"reason": "x"}), ("allow_move", {}),
                         ("incident", {"category": "candidate", "reason": "x"})]:
        ack = sock.emit(action, {"attempt_id": theirs, **body}, namespace=PR, callback=True)
        assert ack["ok"] is False and ack["error"] == "not_your_room", (action, ack)
    for action in ("pause_room", "resume_room", "announce", "room_incident"):
        ack = sock.emit(action, {"room_id": seated.room2, "text": "x", "category": "staff", "reason": "x"},
                        namespace=PR, callback=True)
        assert ack["ok"] is False and ack["error"] == "not_your_room", action
    assert events_of(session, theirs) == []

    # Nothing from room 2 reaches a console that was refused it.
    other = app.test_client()
    token = seated.staff_login(other, "proctor2")
    sock.get_received(PR)
    assert seated.post_json(other, f"/proctor/attempts/{theirs}/check_in", token).status_code == 200
    assert [m for m in sock.get_received(PR) if m["name"] == "seat"] == []

    # A room taken away, or an account switched off, counts from the next event on.
    user = session.scalar(select(User).where(User.username == "proctor"))
    user.room_id = seated.room2
    session.commit()
    assert sock.emit("seats", {"room_id": seated.room1}, namespace=PR, callback=True)["ok"] is False
    user.active = False
    session.commit()
    ack = sock.emit("pause", {"attempt_id": theirs}, namespace=PR, callback=True)
    assert ack["ok"] is False and ack["error"] == "forbidden"


def test_centre_staff_act_on_every_room_over_the_socket(app: Flask, seated: Seated, session: Session) -> None:
    client = app.test_client()
    seated.staff_login(client, "staff")
    sock = seated.proctor_socket(app, client)
    assert sock.emit("watch", {"room_id": seated.room2}, namespace=PR, callback=True)["ok"]
    ack = sock.emit("check_in", {"attempt_id": seated.other_room_attempt}, namespace=PR, callback=True)
    assert ack["ok"] and ack["status"] == "checked_in"
    [event] = events_of(session, seated.other_room_attempt, "checked_in")
    assert event.actor == "user:staff"


def test_only_the_same_origin_may_open_a_socket(app: Flask, seated: Seated) -> None:
    client = app.test_client()
    seated.staff_login(client, "proctor")
    path = "/socket.io/?EIO=4&transport=polling"
    assert client.get(path, headers={"Origin": "http://localhost"}).status_code == 200
    assert client.get(path, headers={"Origin": "http://evil.example"}).status_code == 400


# ---------------------------------------------------------------- the actions reach the screens


def test_pause_and_resume_reach_the_candidate(app: Flask, seated: Seated, session: Session) -> None:
    cand, _ = admitted_and_started(app, seated, 0)
    attempt_id = seated.attempt_ids[0]
    client = app.test_client()
    seated.staff_login(client, "proctor")
    console = seated.proctor_socket(app, client)
    console.emit("watch", {"room_id": seated.room1}, namespace=PR, callback=True)
    cand.get_received(EX)
    console.get_received(PR)

    ack = console.emit("pause", {"attempt_id": attempt_id, "reason": "考生身体不适"}, namespace=PR, callback=True)
    assert ack["ok"] and ack["status"] == "paused"
    states = [a for n, a in names(cand, EX) if n == "attempt_state"]
    assert states and states[-1]["status"] == "paused" and states[-1]["reason"] == "paused"
    seat_events = [a for n, a in names(console, PR) if n == "seat"]
    assert seat_events and seat_events[-1]["status"] == "paused"
    refused = cand.emit("save", {"attempt_id": attempt_id, "item_id": 1, "value": "A", "seq": 1, "key": "k1"},
                        namespace=EX, callback=True)
    assert refused["error"] == "paused"
    frozen = attempt(session, attempt_id).remaining_s

    ack = console.emit("resume", {"attempt_id": attempt_id}, namespace=PR, callback=True)
    assert ack["ok"] and ack["status"] == "in_progress"
    states = [a for n, a in names(cand, EX) if n == "attempt_state"]
    assert states[-1]["status"] == "in_progress" and abs(states[-1]["remaining_s"] - frozen) < 2
    kinds = [e.kind for e in events_of(session, attempt_id)]
    assert kinds[-2:] == ["paused", "resumed"]
    paused = events_of(session, attempt_id, "paused")[0]
    assert paused.actor == "user:proctor" and paused.payload["reason"] == "考生身体不适"
    # Resuming what is not paused is refused with a reason, not silently ignored.
    again = console.emit("resume", {"attempt_id": attempt_id}, namespace=PR, callback=True)
    assert again["ok"] is False and again["error"] == "not_paused"


def test_room_pause_and_resume_over_http(app: Flask, seated: Seated, session: Session) -> None:
    socks = [admitted_and_started(app, seated, i)[0] for i in (0, 1)]
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    for s in socks:
        s.get_received(EX)
    ack = seated.post_json(proctor, f"/proctor/rooms/{seated.room1}/pause_room", token, {"reason": "停电"}).get_json()
    assert ack["ok"] and ack["count"] == 2
    for s, attempt_id in zip(socks, seated.attempt_ids, strict=False):
        assert [a["status"] for n, a in names(s, EX) if n == "attempt_state"][-1] == "paused"
        assert attempt(session, attempt_id).status == "paused"
    # The room-2 candidate and the not-admitted one are untouched.
    assert attempt(session, seated.attempt_ids[2]).status == "scheduled"
    ack = seated.post_json(proctor, f"/proctor/rooms/{seated.room1}/resume_room", token, {}).get_json()
    assert ack["ok"] and ack["count"] == 2
    assert {attempt(session, a).status for a in seated.attempt_ids[:2]} == {"in_progress"}


def test_extend_needs_a_reason_and_moves_the_deadline(app: Flask, seated: Seated, session: Session) -> None:
    cand, _ = admitted_and_started(app, seated, 0)
    attempt_id = seated.attempt_ids[0]
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    response = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/extend", token, {"minutes": 10})
    assert response.status_code == 400 and response.get_json()["error"] == "reason_required"
    response = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/extend", token, {"minutes": 0, "reason": "x"})
    assert response.status_code == 400
    before = attempt(session, attempt_id).deadline_at
    cand.get_received(EX)
    ack = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/extend", token,
                    {"minutes": 10, "reason": "电脑故障耽误十分钟"}).get_json()
    assert ack["ok"]
    assert attempt(session, attempt_id).deadline_at - before == dt.timedelta(minutes=10)
    assert [a["reason"] for n, a in names(cand, EX) if n == "attempt_state"] == ["extended"]
    [event] = events_of(session, attempt_id, "extended")
    assert event.payload == {"seconds": 600, "reason": "电脑故障耽误十分钟"}


def test_force_submit_needs_a_reason_and_closes_the_attempt(app: Flask, seated: Seated, session: Session) -> None:
    cand, _ = admitted_and_started(app, seated, 0)
    attempt_id = seated.attempt_ids[0]
    client = app.test_client()
    seated.staff_login(client, "proctor")
    console = seated.proctor_socket(app, client)
    ack = console.emit("force_submit", {"attempt_id": attempt_id, "reason": " "}, namespace=PR, callback=True)
    assert ack["ok"] is False and ack["error"] == "reason_required"
    cand.get_received(EX)
    ack = console.emit("force_submit", {"attempt_id": attempt_id, "reason": "考生违纪，携带手机"}, namespace=PR,
                       callback=True)
    assert ack["ok"] and ack["status"] in ("submitted", "scored")
    assert [a["status"] for n, a in names(cand, EX) if n == "attempt_state"][-1] in ("submitted", "scored")
    [event] = events_of(session, attempt_id, "submitted")
    assert event.payload["reason"] == "proctor" and event.payload["note"] == "考生违纪，携带手机"
    again = console.emit("force_submit", {"attempt_id": attempt_id, "reason": "again"}, namespace=PR, callback=True)
    assert again["ok"] is False


def test_a_second_workstation_waits_until_the_proctor_allows_the_move(
    app: Flask, seated: Seated, session: Session
) -> None:
    old, client = admitted_and_started(app, seated, 0, workstation="ws-old")
    attempt_id = seated.attempt_ids[0]
    items = client.get("/api/attempt").get_json()["items"]
    first = items[0]
    assert old.emit("save", {"attempt_id": attempt_id, "item_id": first["item_id"], "value": first["options"][0]["id"],
                             "seq": 1, "key": "s1"}, namespace=EX, callback=True)["ok"]
    # The candidate moves to another computer and logs in there.
    other_client = app.test_client()
    seated.candidate_login(other_client, 0)
    new = seated.exam_socket(app, other_client)
    held = new.emit("join", {"attempt_id": attempt_id, "workstation": "ws-new"}, namespace=EX, callback=True)
    assert held["ok"] is False and held["error"] == "awaiting_move"

    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    seats = proctor.get(f"/proctor/rooms/{seated.room1}/seats").get_json()["seats"]
    assert next(s for s in seats if s["attempt_id"] == attempt_id)["pending_move"] is True
    old.get_received(EX)
    ack = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/allow_move", token, {"reason": "原电脑死机"}).get_json()
    assert ack["ok"], ack
    closed = [a for n, a in names(old, EX) if n == "closed"]
    assert closed and closed[0]["workstation"] == "ws-old" and "另一台电脑" in closed[0]["reason"]
    # The old screen can no longer write; the new one resumes with the acknowledged answer.
    refused = old.emit("save", {"attempt_id": attempt_id, "item_id": first["item_id"], "value": None, "seq": 2,
                                "key": "s2"}, namespace=EX, callback=True)
    assert refused["error"] == "moved"
    joined = new.emit("join", {"attempt_id": attempt_id, "workstation": "ws-new"}, namespace=EX, callback=True)
    assert joined["ok"] and joined["status"] == "in_progress"
    assert joined["answers"][str(first["item_id"])]["value"] == first["options"][0]["id"]
    kinds = [e.kind for e in events_of(session, attempt_id)]
    assert kinds.index("move_requested") < kinds.index("moved")
    assert events_of(session, attempt_id, "moved")[0].payload["reason"] == "原电脑死机"


def test_announcement_reaches_every_screen_in_the_room(app: Flask, seated: Seated, session: Session) -> None:
    socks = [admitted_and_started(app, seated, i)[0] for i in (0, 1)]
    client = app.test_client()
    seated.staff_login(client, "proctor")
    console = seated.proctor_socket(app, client)
    for s in socks:
        s.get_received(EX)
    ack = console.emit("announce", {"room_id": seated.room1, "text": "距考试结束还有 15 分钟"}, namespace=PR,
                       callback=True)
    assert ack["ok"] and ack["count"] == 2
    for s, attempt_id in zip(socks, seated.attempt_ids, strict=False):
        assert [a["text"] for n, a in names(s, EX) if n == "announcement"] == ["距考试结束还有 15 分钟"]
        assert events_of(session, attempt_id, "announcement")[0].payload["text"] == "距考试结束还有 15 分钟"
    empty = console.emit("announce", {"room_id": seated.room1, "text": "  "}, namespace=PR, callback=True)
    assert empty["ok"] is False


def test_incidents_have_a_category_and_a_reason(app: Flask, seated: Seated, session: Session) -> None:
    admitted_and_started(app, seated, 0)
    attempt_id = seated.attempt_ids[0]
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    bad = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/incident", token, {"category": "weather", "reason": "x"})
    assert bad.status_code == 400 and "考场环境" in bad.get_json()["message"]
    bad = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/incident", token, {"category": "technical"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "reason_required"
    ok = seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/incident", token,
                   {"category": "technical", "reason": "鼠标失灵，已更换"})
    assert ok.status_code == 200
    [event] = events_of(session, attempt_id, "incident")
    assert event.payload == {"category": "technical", "reason": "鼠标失灵，已更换", "scope": "attempt"}
    assert event.actor == "user:proctor"
    # A room incident is logged on every admitted candidate of the room, and shown in the room's activity.
    ok = seated.post_json(proctor, f"/proctor/rooms/{seated.room1}/room_incident", token,
                   {"category": "environment", "reason": "窗外施工噪音"}).get_json()
    assert ok["ok"] and ok["count"] == 1
    assert events_of(session, seated.attempt_ids[1], "incident") == []  # not admitted
    activity = proctor.get(f"/proctor/rooms/{seated.room1}/seats").get_json()["activity"]
    assert [a["kind"] for a in activity[:2]] == ["incident", "incident"]
    assert activity[0]["who"] == "全场" and activity[0]["payload"]["reason"] == "窗外施工噪音"


# ---------------------------------------------------------------- the seat map


def test_the_seat_map_shows_each_state(app: Flask, seated: Seated, session: Session) -> None:
    from exam_server.proctoring.queries import DISCONNECT_GRACE_S

    sock0, client0 = admitted_and_started(app, seated, 0)
    sock1, _ = admitted_and_started(app, seated, 1)
    items = client0.get("/api/attempt").get_json()["items"]
    for seq, item in enumerate(items[:3], start=1):
        assert sock0.emit("save", {"attempt_id": seated.attempt_ids[0], "item_id": item["item_id"],
                                   "value": item["options"][0]["id"], "seq": seq, "key": f"k{seq}"},
                          namespace=EX, callback=True)["ok"]
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")

    def seat_map() -> dict[int, dict[str, Any]]:
        body = proctor.get(f"/proctor/rooms/{seated.room1}/seats").get_json()
        return {s["attempt_id"]: s for s in body["seats"] if s["attempt_id"]}

    seats = seat_map()
    a0, a1, a2 = seated.attempt_ids[:3]
    assert seats[a0]["state"] == "in_progress" and seats[a0]["answered"] == 3 and seats[a0]["n_items"] == 10
    assert seats[a0]["connected"] is True
    assert seats[a2]["state"] == "absent" and seats[a2]["label"] == "未入场"
    assert seated.other_room_attempt not in seats

    # Idle: no activity for longer than IDLE_AFTER_S.
    row = session.get(Attempt, a1)
    row.last_activity_at = row.last_activity_at - dt.timedelta(seconds=app.config["IDLE_AFTER_S"] + 5)
    session.commit()
    assert seat_map()[a1]["state"] == "idle"
    # Disconnected: the socket is gone and nothing has come for a while.
    sock1.disconnect(namespace=EX)
    row = session.get(Attempt, a1)
    row.last_activity_at = row.last_activity_at - dt.timedelta(seconds=DISCONNECT_GRACE_S)
    session.commit()
    seats = seat_map()
    assert seats[a1]["state"] == "disconnected" and seats[a1]["connected"] is False

    assert seated.post_json(proctor, f"/proctor/attempts/{a0}/pause", token).status_code == 200
    assert seat_map()[a0]["state"] == "paused"
    assert seated.post_json(proctor, f"/proctor/attempts/{a2}/check_in", token).status_code == 200
    assert seat_map()[a2]["state"] == "not_started"
    assert seated.post_json(proctor, f"/proctor/attempts/{a0}/force_submit", token, {"reason": "测试"}).status_code == 200
    seats = seat_map()
    # Scoring followed the force-submit as a job (run at once in tests): 已交卷, then 已评分.
    assert seats[a0]["state"] == "scored" and seats[a0]["label"] == "已评分"
    body = proctor.get(f"/proctor/rooms/{seated.room1}/seats").get_json()
    assert body["counts"]["empty"] == 27 and body["counts"]["scored"] == 1 and body["counts"]["submitted"] == 0


def test_a_candidate_http_save_pushes_the_seat_to_the_console(app: Flask, seated: Seated) -> None:
    _sock, client = admitted_and_started(app, seated, 0)
    token = seated.candidate_login(client, 0)
    proctor = app.test_client()
    seated.staff_login(proctor, "proctor")
    console = seated.proctor_socket(app, proctor)
    console.emit("watch", {"room_id": seated.room1}, namespace=PR, callback=True)
    console.get_received(PR)
    item = client.get("/api/attempt").get_json()["items"][0]
    response = client.post(f"/api/attempts/{seated.attempt_ids[0]}/save", headers={"X-CSRFToken": token},
                           json={"item_id": item["item_id"], "value": item["options"][0]["id"], "seq": 1,
                                 "key": "h1", "workstation": "ws-a"})
    assert response.status_code == 200, response.get_json()
    seats = [a for n, a in names(console, PR) if n == "seat"]
    assert seats and seats[-1]["attempt_id"] == seated.attempt_ids[0] and seats[-1]["answered"] == 1


def test_a_workstation_that_waited_for_admission_owns_the_attempt(
    app: Flask, seated: Seated, session: Session
) -> None:
    """The usual order at the door: log in, wait, be admitted, start. A second login is still held."""
    attempt_id = seated.attempt_ids[0]
    client = app.test_client()
    seated.candidate_login(client, 0)
    first = seated.exam_socket(app, client)
    waiting = first.emit("join", {"attempt_id": attempt_id, "workstation": "ws-door"}, namespace=EX, callback=True)
    assert waiting["status"] == "scheduled"
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    assert seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/check_in", token).status_code == 200
    assert first.emit("start", {"attempt_id": attempt_id}, namespace=EX, callback=True)["status"] == "in_progress"
    assert attempt(session, attempt_id).workstation == "ws-door"
    other = app.test_client()
    seated.candidate_login(other, 0)
    second = seated.exam_socket(app, other)
    held = second.emit("join", {"attempt_id": attempt_id, "workstation": "ws-other"}, namespace=EX, callback=True)
    assert held["ok"] is False and held["error"] == "awaiting_move"


def test_an_outage_is_given_back_to_running_clocks_only(app: Flask, seated: Seated, session: Session) -> None:
    """A standby taking over gives each running candidate the time no server answered them, a deadline that fell
    inside the outage included; a paused clock stood still and gets nothing (delivery.clock.give_back_outage)."""
    from exam_server.delivery.clock import give_back_outage
    from exam_server.delivery.models import PAUSED

    for index in (0, 1, 2):
        admitted_and_started(app, seated, index, workstation=f"ws-{index}")
    running, expired, paused = (attempt(session, i) for i in seated.attempt_ids[:3])
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(seconds=90)
    running.deadline_at = now + dt.timedelta(minutes=30)
    expired.deadline_at = now - dt.timedelta(seconds=30)  # ran out while the server was down
    paused.status, paused.deadline_at, paused.remaining_s = PAUSED, None, 600.0
    session.commit()
    before = {a.id: a.deadline_at for a in (running, expired)}

    seconds, given = give_back_outage(session, since, "system:standby", "考点服务器故障，备机接替，补回中断时间")
    assert 90 <= seconds <= 92 and sorted(given) == sorted([running.id, expired.id])
    for a in (running, expired):
        assert attempt(session, a.id).deadline_at - before[a.id] == dt.timedelta(seconds=seconds)
        [event] = events_of(session, a.id, "extended")
        assert event.actor == "system:standby" and event.payload["seconds"] == seconds
    assert attempt(session, paused.id).remaining_s == 600.0 and not events_of(session, paused.id, "extended")

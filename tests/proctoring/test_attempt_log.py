"""Replaying an attempt's append-only log into what the candidate's screen showed, and `examctl attempt-log`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.proctoring.replay import parse_moment, replay, replay_attempt, shown_letters

if TYPE_CHECKING:
    from proctor_support import Seated

pytest_plugins = ["proctor_support"]

T0 = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Beijing


@dataclass
class E:
    """A log row as replay sees it."""

    at: dt.datetime
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    item_version_id: int | None = None
    seq: int | None = None
    actor: str = "candidate"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_the_clock_through_start_pause_resume_extend_and_submit() -> None:
    log = [
        E(at(0), "checked_in", actor="user:proctor"),
        E(at(60), "started", {"deadline_at": at(60 + 600).isoformat()}),
        E(at(100), "save", {"value": "B", "applied": True}, item_version_id=7, seq=1),
        E(at(160), "paused", {"reason": "停电", "from": "in_progress", "remaining_s": 500.0}, actor="user:proctor"),
        E(at(400), "extended", {"seconds": 300, "reason": "停电补时"}, actor="user:proctor"),
        E(at(460), "resumed", {"remaining_s": 800.0}, actor="user:proctor"),
        E(at(470), "save", {"value": "C", "applied": True}, item_version_id=7, seq=3),
        E(at(471), "save", {"value": "A", "applied": False}, item_version_id=7, seq=2),  # late, older seq
        E(at(480), "flag", {"flagged": True, "applied": True}, item_version_id=8, seq=4),
        E(at(500), "announcement", {"text": "还有 10 分钟"}, actor="user:proctor"),
        E(at(900), "submitted", {"reason": "candidate", "note": ""}),
    ]
    assert replay(log, 600, at(30)).status == "checked_in" and replay(log, 600, at(30)).remaining_s == 600
    running = replay(log, 600, at(120))
    assert running.status == "in_progress" and running.remaining_s == 540 and running.answers == {7: "B"}
    paused = replay(log, 600, at(300))
    assert paused.status == "paused" and paused.remaining_s == 500
    assert replay(log, 600, at(450)).remaining_s == 800  # extended while paused
    resumed = replay(log, 600, at(560))
    assert resumed.status == "in_progress" and resumed.remaining_s == 700
    assert resumed.answers == {7: "C"} and resumed.flags == {8} and resumed.announcement == "还有 10 分钟"
    done = replay(log, 600, at(1000))
    assert done.status == "submitted" and done.submit_reason == "candidate" and done.remaining_s == 360
    assert replay(log, 600, at(-1)).status == "scheduled"


def test_moves_and_deadline_submission() -> None:
    log = [
        E(at(0), "checked_in"),
        E(at(1), "workstation", {"workstation": "ws-old"}),
        E(at(2), "started", {"deadline_at": at(62).isoformat()}),
        E(at(10), "move_requested", {"workstation": "ws-new"}),
        E(at(20), "moved", {"from": "ws-old", "to": "ws-new", "reason": "死机"}, actor="user:proctor"),
        E(at(62), "submitted", {"reason": "deadline", "note": ""}, actor="server"),
    ]
    held = replay(log, 60, at(15))
    assert held.pending_move and held.workstation == "ws-old"
    moved = replay(log, 60, at(30))
    assert not moved.pending_move and moved.workstation == "ws-new" and moved.closed_workstations == ["ws-old"]
    assert moved.remaining_s == 32
    final = replay(log, 60, at(70))
    assert final.status == "submitted" and final.remaining_s == 0 and final.submit_reason == "deadline"


def test_letters_as_the_candidate_saw_them() -> None:
    assert shown_letters("AC", ["C", "A", "B", "D"]) == "AB"
    assert shown_letters("B", ["B", "A"]) == "A"
    assert shown_letters(None, ["A"]) == ""


def test_parse_moment_reads_beijing_time() -> None:
    day = dt.date(2026, 5, 1)
    assert parse_moment("09:30", day) == dt.datetime(2026, 5, 1, 1, 30, tzinfo=dt.UTC)
    assert parse_moment("2026-05-01T09:30:15", day) == dt.datetime(2026, 5, 1, 1, 30, 15, tzinfo=dt.UTC)
    assert parse_moment("2026-05-01T01:30:15Z", day) == dt.datetime(2026, 5, 1, 1, 30, 15, tzinfo=dt.UTC)


def test_replaying_a_real_attempt_gives_what_is_stored(app: Flask, seated: Seated, session: Session) -> None:
    """A sitting played through the real protocol and console; the replayed end state equals the
    stored responses, and a replay at a past moment shows that moment."""
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    attempt_id = seated.attempt_ids[0]
    assert seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/check_in", token).status_code == 200
    client = app.test_client()
    seated.candidate_login(client, 0)
    sock = seated.exam_socket(app, client)
    sock.emit("join", {"attempt_id": attempt_id, "workstation": "w1"}, namespace="/exam", callback=True)
    sock.emit("start", {"attempt_id": attempt_id}, namespace="/exam", callback=True)
    items = client.get("/api/attempt").get_json()["items"]
    seq = 0
    for item in items[:6]:
        seq += 1
        value = item["options"][-1]["id"] if item["type"] != "multiple" else "".join(o["id"] for o in item["options"][:2])
        assert sock.emit("save", {"attempt_id": attempt_id, "item_id": item["item_id"], "value": value, "seq": seq,
                                  "key": f"k{seq}"}, namespace="/exam", callback=True)["ok"]
    seq += 1
    sock.emit("flag", {"attempt_id": attempt_id, "item_id": items[1]["item_id"], "flagged": True, "seq": seq,
                       "key": f"k{seq}"}, namespace="/exam", callback=True)
    middle = dt.datetime.now(dt.UTC)
    assert seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/pause", token, {"reason": "巡查"}).status_code == 200
    assert seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/resume", token).status_code == 200
    seq += 1
    sock.emit("save", {"attempt_id": attempt_id, "item_id": items[0]["item_id"], "value": None, "seq": seq,
                       "key": f"k{seq}"}, namespace="/exam", callback=True)
    session.expire_all()
    row = session.get(Attempt, attempt_id)
    screen = replay_attempt(session, row)
    stored = {r.item_version_id: r.value for r in session.scalars(select(Response).where(Response.attempt_id == attempt_id))
              if r.seq}
    assert screen.answers == stored and screen.answers[items[0]["item_id"]] is None
    assert screen.flags == {items[1]["item_id"]}
    assert screen.status == row.status == "in_progress"
    assert abs(screen.remaining_s - (row.deadline_at - screen.at).total_seconds()) < 0.01

    # Make the middle moment unambiguous at one-second resolution: move the log apart around it.
    for event in session.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id)):
        event.at = event.at + dt.timedelta(seconds=10 if event.at > middle else -10)
    session.commit()
    before = replay_attempt(session, row, middle)
    assert before.status == "in_progress" and before.answers[items[0]["item_id"]] is not None

    runner = app.test_cli_runner()
    out = runner.invoke(args=["attempt-log", str(attempt_id)])
    assert out.exit_code == 0, out.output
    assert "暂停：巡查" in out.output and "答题中" in out.output and "已答 5 / 10 题" in out.output
    moment = middle.astimezone(DISPLAY_ZONE).strftime("%H:%M:%S")
    out = runner.invoke(args=["attempt-log", seated.seeded.logins[0][0], "--at", moment, "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["status"] == "in_progress" and sum(1 for i in body["items"] if i["value"] is not None) >= 5
    assert runner.invoke(args=["attempt-log", "999999"]).exit_code != 0
    assert "无法识别" in runner.invoke(args=["attempt-log", str(attempt_id), "--at", "noon"]).output

    # The console's log page shows the same replay.
    page = proctor.get(f"/proctor/attempts/{attempt_id}/log").get_data(as_text=True)
    assert "考生屏幕" in page and "已答 <b>5</b>" in page and "暂停：巡查" in page

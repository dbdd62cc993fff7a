"""The candidate's wire protocol (DESIGN.md §7) through Socket.IO and its HTTP fallback."""

from __future__ import annotations

import datetime as dt
import json

from conftest import Sitting, exam_socket
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery.clock import submit_overdue
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from item_bank.db import utcnow
from item_bank.models import ItemVersion

NS = "/exam"


def stored(session: Session, attempt_id: int, item_id: int) -> Response | None:
    session.expire_all()
    return session.scalar(select(Response).where(Response.attempt_id == attempt_id, Response.item_version_id == item_id))


def test_connect_without_login_is_refused(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    sock = exam_socket(app, client)
    assert not sock.is_connected(NS)


def test_items_come_only_while_in_progress_and_never_with_a_key(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sitting.login(client)
    before = client.get("/api/attempt").get_json()
    assert before["status"] == "checked_in" and before["items"] == []
    sock = exam_socket(app, client)
    sock.emit("join", {"attempt_id": sitting.attempt_ids[0], "workstation": "w"}, namespace=NS, callback=True)
    sock.emit("start", {"attempt_id": sitting.attempt_ids[0]}, namespace=NS, callback=True)
    body = client.get("/api/attempt").get_json()
    assert len(body["items"]) == 10
    text = json.dumps(body, ensure_ascii=False)
    assert '"key"' not in text and "answer" not in text
    for item in body["items"]:
        version = session.get(ItemVersion, item["item_id"])
        assert {o["id"] for o in item["options"]} == set("ABCDEFG"[: len(version.content["options"])])
        assert set(item) >= {"item_id", "type", "stem", "options"}


def test_save_is_acknowledged_after_it_is_stored(app: Flask, client: FlaskClient, sitting: Sitting, session: Session) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item = items[0]
    ack = save(sock, attempt_id, item["item_id"], item["options"][0]["id"], 1)
    assert ack["ok"] is True and ack["seq"] == 1 and ack["saved_at"].endswith("Z")
    row = stored(session, attempt_id, item["item_id"])
    assert row is not None and row.value == item["options"][0]["id"] and row.seq == 1


def test_a_resent_save_is_harmless(app: Flask, client: FlaskClient, sitting: Sitting, session: Session) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item_id = items[0]["item_id"]
    first = save(sock, attempt_id, item_id, "A", 1, key="same")
    again = save(sock, attempt_id, item_id, "A", 1, key="same")
    assert first == again
    session.expire_all()
    n = session.scalar(select(func.count()).select_from(AttemptEvent).where(
        AttemptEvent.attempt_id == attempt_id, AttemptEvent.kind == "save"))
    assert n == 1


def test_an_older_save_never_overwrites_a_newer_one(app: Flask, client: FlaskClient, sitting: Sitting, session: Session) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item_id = items[0]["item_id"]
    assert save(sock, attempt_id, item_id, "B", 5)["ok"]
    late = save(sock, attempt_id, item_id, "A", 3)
    assert late["ok"] is True and late["seq"] == 3  # acknowledged, not applied
    row = stored(session, attempt_id, item_id)
    assert row.value == "B" and row.seq == 5
    events = session.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id,
                                                        AttemptEvent.kind == "save").order_by(AttemptEvent.id)).all()
    assert [e.payload["applied"] for e in events] == [True, False]  # both kept in the log


def test_a_candidate_cannot_save_into_another_candidates_attempt(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, _own, items = started(app, client, sitting, index=0)
    other = sitting.attempt_ids[1]
    ack = save(sock, other, items[0]["item_id"], "A", 1)
    assert ack == {"ok": False, "error": "not_your_attempt", "message": ack["message"]}
    assert stored(session, other, items[0]["item_id"]) is None
    joined = sock.emit("join", {"attempt_id": other}, namespace=NS, callback=True)
    assert joined["error"] == "not_your_attempt"


def test_invalid_values_are_refused(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    single = next(i for i in items if i["type"] == "single")
    multiple = next(i for i in items if i["type"] == "multiple")
    assert save(sock, attempt_id, single["item_id"], "AB", 1)["error"] == "invalid_value"
    assert save(sock, attempt_id, single["item_id"], "Z", 2)["error"] == "invalid_value"
    assert save(sock, attempt_id, multiple["item_id"], "BA", 3)["error"] == "invalid_value"
    assert save(sock, attempt_id, 999999, "A", 4)["error"] == "unknown_item"
    assert save(sock, attempt_id, single["item_id"], None, 5)["ok"]  # null clears


def test_a_save_after_the_deadline_is_refused_and_the_attempt_submitted(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    assert save(sock, attempt_id, items[0]["item_id"], "A", 1)["ok"]
    attempt = session.get(Attempt, attempt_id)
    deadline = utcnow() - dt.timedelta(seconds=1)
    attempt.deadline_at = deadline
    session.commit()
    ack = save(sock, attempt_id, items[1]["item_id"], "A", 2)
    assert ack["ok"] is False and ack["error"] == "deadline_passed" and "时间" in ack["message"]
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert attempt.status == "scored" and attempt.submit_reason == "deadline"
    assert abs((attempt.submitted_at - deadline).total_seconds()) < 0.01  # submitted as of the deadline
    assert stored(session, attempt_id, items[0]["item_id"]).value == "A"  # acknowledged answer counts
    assert stored(session, attempt_id, items[1]["item_id"]) is None
    pushed = [m for m in sock.get_received(NS) if m["name"] == "attempt_state"]
    # The screen hears of the submission; scoring followed as a job (immediate in tests, hence scored above).
    assert pushed and pushed[-1]["args"][0]["status"] == "submitted"


def test_the_server_submits_at_the_deadline_with_no_browser(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    save(sock, attempt_id, items[0]["item_id"], "A", 1)
    sock.disconnect(NS)
    attempt = session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() - dt.timedelta(seconds=5)
    session.commit()
    assert submit_overdue(session) == [attempt_id]
    session.expire_all()
    assert session.get(Attempt, attempt_id).status == "scored"
    assert submit_overdue(session) == []


def test_join_on_another_connection_resumes_answers_and_time(
    app: Flask, client: FlaskClient, sitting: Sitting
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    save(sock, attempt_id, items[0]["item_id"], "B", 1)
    sock.emit("flag", {"attempt_id": attempt_id, "item_id": items[1]["item_id"], "flagged": True, "seq": 2, "key": "f2"},
              namespace=NS, callback=True)
    sock.disconnect(NS)
    again = exam_socket(app, client)  # a reload: same browser, same workstation token
    joined = again.emit("join", {"attempt_id": attempt_id, "workstation": "ws-0"}, namespace=NS, callback=True)
    assert joined["ok"] and joined["status"] == "in_progress"
    assert joined["answers"][str(items[0]["item_id"])]["value"] == "B"
    assert joined["flags"] == [items[1]["item_id"]]
    assert joined["last_seq"] == 2
    assert 90 * 60 - 30 < joined["remaining_s"] <= 90 * 60


def test_submit_scores_the_attempt_and_staff_see_the_score(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    # Answer every item with its key (read on the server side, as a grader of the test would).
    for seq, item in enumerate(items, start=1):
        key = session.get(ItemVersion, item["item_id"]).key
        assert save(sock, attempt_id, item["item_id"], key, seq)["ok"]
    ack = sock.emit("submit", {"attempt_id": attempt_id, "key": "submit-1"}, namespace=NS, callback=True)
    # The acknowledgement is the submission's; scoring follows as a job (which tests run at once).
    assert ack == {"ok": True, "status": "submitted"}
    session.expire_all()
    assert session.get(Attempt, attempt_id).status == "scored"
    assert sock.emit("submit", {"attempt_id": attempt_id, "key": "submit-1"}, namespace=NS, callback=True) == ack
    late = save(sock, attempt_id, items[0]["item_id"], "A", 99)
    assert late["ok"] is False and late["error"] == "submitted"
    staff = app.test_client()
    sitting.staff_login(staff)
    page = staff.get(f"/staff/sessions/{sitting.seeded.exam_session_id}").get_data(as_text=True)
    assert "100.0" in page and "合格" in page


def test_http_fallback_uses_the_same_rules(app: Flask, client: FlaskClient, sitting: Sitting, session: Session) -> None:
    token = sitting.login(client)
    attempt_id = sitting.attempt_ids[0]
    url = f"/api/attempts/{attempt_id}"
    headers = {"X-CSRFToken": token}
    assert client.post(f"{url}/join", json={"workstation": "h", "start": True}, headers=headers).get_json()["ok"]
    items = client.get("/api/attempt").get_json()["items"]
    body = {"item_id": items[0]["item_id"], "value": "A", "seq": 1, "key": "h1", "workstation": "h"}
    assert client.post(f"{url}/save", json=body).status_code == 400  # no CSRF token
    first = client.post(f"{url}/save", json=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["ok"]
    assert client.post(f"{url}/save", json=body, headers=headers).get_json() == first.get_json()
    other = sitting.attempt_ids[1]
    refused = client.post(f"/api/attempts/{other}/save", json=body | {"key": "h2"}, headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_attempt"
    done = client.post(f"{url}/submit", json={"key": "hs", "workstation": "h"}, headers=headers)
    assert done.get_json() == {"ok": True, "status": "submitted"}


def test_a_second_workstation_is_held(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    _sock, attempt_id, _items = started(app, client, sitting)
    other = exam_socket(app, client)
    held = other.emit("join", {"attempt_id": attempt_id, "workstation": "another"}, namespace=NS, callback=True)
    assert held["ok"] is False and held["error"] == "awaiting_move"


def test_preparing_attempts_counts_item_exposure(sitting: Sitting, session: Session) -> None:
    from item_bank.models import FormItem

    attempt = session.get(Attempt, sitting.attempt_ids[0])
    version_ids = session.scalars(select(FormItem.item_version_id).where(FormItem.form_id == attempt.form_id)).all()
    session.expire_all()
    exposures = {session.get(ItemVersion, v).exposure_count for v in version_ids}
    assert exposures == {3}  # three candidates, one form


def test_malformed_steps_are_refused_with_an_acknowledgement(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    sock, attempt_id, items = started(app, client, sitting)
    item = items[0]
    option = item["options"][0]["id"]
    for event in ("save", "flag", "submit", "ping_time", "join", "start"):
        ack = sock.emit(event, namespace=NS, callback=True)  # no payload at all
        assert isinstance(ack, dict) and ack.get("ok") is not True, (event, ack)
    for seq in (0, -1, 2**31, 2**63 - 1, 10**30):
        ack = save(sock, attempt_id, item["item_id"], option, seq)
        assert ack == {"ok": False, "error": "invalid_value", "message": ack["message"]}, seq
    assert stored(session, attempt_id, item["item_id"]) is None
    ack = save(sock, attempt_id, item["item_id"], option, 2**31 - 1)
    assert ack["ok"] is True


def test_the_workstation_binding_holds_on_every_path(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    _sock, attempt_id, items = started(app, client, sitting)  # bound to "ws-0"
    item = items[0]
    token = sitting.login(client)  # the same candidate again, for a CSRF token
    option = item["options"][0]["id"]
    # A socket whose join was refused cannot answer or start on the bound attempt.
    other = exam_socket(app, client)
    held = other.emit("join", {"attempt_id": attempt_id, "workstation": "another"}, namespace=NS, callback=True)
    assert held["error"] == "awaiting_move"
    assert save(other, attempt_id, item["item_id"], option, 1)["error"] == "moved"
    flag = other.emit("flag", {"attempt_id": attempt_id, "item_id": item["item_id"], "flagged": True, "seq": 2,
                               "key": "f2"}, namespace=NS, callback=True)
    assert flag["error"] == "moved"
    # Nor can a socket that never joined, nor an HTTP call that names no workstation or another one.
    never = exam_socket(app, client)
    assert save(never, attempt_id, item["item_id"], option, 3)["error"] == "moved"
    url, headers = f"/api/attempts/{attempt_id}", {"X-CSRFToken": token}
    body = {"item_id": item["item_id"], "value": option, "seq": 4, "key": "h4"}
    for extra in ({}, {"workstation": "another"}):
        refused = client.post(f"{url}/save", json=body | extra, headers=headers)
        assert refused.get_json()["error"] == "moved", extra
    assert stored(session, attempt_id, item["item_id"]) is None
    # A workstation name longer than the column is refused, not stored (a 1 MB one as a payload too large).
    never.disconnect(NS)
    other.disconnect(NS)  # a candidate holds at most MAX_SOCKETS_PER_CANDIDATE sockets
    named = exam_socket(app, client)
    for name, error in (("w" * 65, "invalid_value"), ("w" * 1_000_000, "payload_too_large")):
        huge = named.emit("join", {"attempt_id": attempt_id, "workstation": name}, namespace=NS, callback=True)
        assert huge["error"] == error
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert attempt.workstation == "ws-0" and attempt.pending_workstation == "another"

"""The sitting's rules are the server's: late entry, the minimum time before 交卷 and the common end, over the socket
protocol and over the HTTP fallback alike; a proctor admits a late candidate with a reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import Sitting, exam_socket
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.db import utcnow

NS = "/exam"
DURATION = 90 * 60


def _rules(session: Session, sitting: Sitting, *, started_min_ago: float = 0, timing: str = "common",
           late_entry_min: int = 15, min_submit_min: int = 30) -> ExamSession:
    exam_session = session.get(ExamSession, sitting.seeded.exam_session_id)
    assert exam_session is not None
    exam_session.starts_at = utcnow() - dt.timedelta(minutes=started_min_ago)
    exam_session.timing, exam_session.late_entry_min, exam_session.min_submit_min = timing, late_entry_min, min_submit_min
    session.commit()
    return exam_session


def _socket(app: Flask, client: FlaskClient, sitting: Sitting, index: int) -> tuple[Any, int]:
    sitting.login(client, index)
    sock = exam_socket(app, client)
    attempt_id = sitting.attempt_ids[index]
    assert sock.emit("join", {"attempt_id": attempt_id, "workstation": f"ws-{index}"}, namespace=NS, callback=True)["ok"]
    return sock, attempt_id


def _http_start(client: FlaskClient, token: str, attempt_id: int) -> Any:
    return client.post(f"/api/attempts/{attempt_id}/join", json={"workstation": "http-ws", "start": True},
                       headers={"X-CSRFToken": token})


def test_late_entry_is_refused_over_the_socket_until_the_proctor_admits_with_a_reason(
    app: Flask, client: FlaskClient, session: Session, sitting: Sitting
) -> None:
    _rules(session, sitting, started_min_ago=20)
    sock, attempt_id = _socket(app, client, sitting, 0)
    ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
    assert ack["ok"] is False and ack["error"] == "late_entry_closed" and "15 分钟" in ack["message"]

    proctor = app.test_client()
    token = sitting.staff_login(proctor, "proctor")
    refused = proctor.post(f"/proctor/attempts/{attempt_id}/admit_late", json={"reason": ""},
                           headers={"X-CSRFToken": token})
    assert refused.status_code == 400 and refused.get_json()["error"] == "reason_required"
    admitted = proctor.post(f"/proctor/attempts/{attempt_id}/admit_late", json={"reason": "交通事故，已核实"},
                            headers={"X-CSRFToken": token})
    assert admitted.status_code == 200, admitted.get_json()

    ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
    assert ack["ok"] and ack["status"] == "in_progress"
    # Common window: the late starter ends with everyone, 20 minutes short of the full duration.
    assert DURATION - 20 * 60 - 5 < ack["remaining_s"] <= DURATION - 20 * 60
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None and attempt.late_admitted_at is not None


def test_late_entry_is_refused_over_the_http_fallback(
    app: Flask, client: FlaskClient, session: Session, sitting: Sitting
) -> None:
    _rules(session, sitting, started_min_ago=16)
    token = sitting.login(client, 1)
    response = _http_start(client, token, sitting.attempt_ids[1])
    assert response.status_code == 409 and response.get_json()["error"] == "late_entry_closed"
    session.expire_all()
    assert session.get(Attempt, sitting.attempt_ids[1]).status == "checked_in"  # type: ignore[union-attr]


def test_within_the_cut_off_a_candidate_starts_and_the_common_end_holds_on_both_paths(
    app: Flask, client: FlaskClient, session: Session, sitting: Sitting
) -> None:
    _rules(session, sitting, started_min_ago=10)
    sock, attempt_id = _socket(app, client, sitting, 0)
    ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
    assert ack["ok"] and DURATION - 600 - 5 < ack["remaining_s"] <= DURATION - 600

    other = app.test_client()
    token = sitting.login(other, 1)
    body = _http_start(other, token, sitting.attempt_ids[1]).get_json()
    assert body["status"] == "in_progress" and DURATION - 600 - 5 < body["remaining_s"] <= DURATION - 600
    attempt_json = other.get("/api/attempt").get_json()
    ends = dt.datetime.fromisoformat(attempt_json["ends_at"].replace("Z", "+00:00"))
    exam_session = session.get(ExamSession, sitting.seeded.exam_session_id)
    assert abs((ends - exam_session.ends_at).total_seconds()) < 1  # type: ignore[union-attr]


def test_own_timing_and_extra_time_give_the_full_duration_from_the_candidates_start(
    app: Flask, client: FlaskClient, session: Session, sitting: Sitting
) -> None:
    _rules(session, sitting, started_min_ago=10, timing="own_start")
    ticket = session.scalar(select(Ticket).where(Ticket.number == sitting.seeded.logins[0][0]))
    assert ticket is not None
    ticket.extra_time_s = 15 * 60
    session.commit()
    sock, attempt_id = _socket(app, client, sitting, 0)
    ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
    assert DURATION + 900 - 5 < ack["remaining_s"] <= DURATION + 900


def test_submit_before_the_minimum_time_is_refused_with_when_it_opens_on_both_paths(
    app: Flask, client: FlaskClient, session: Session, sitting: Sitting
) -> None:
    exam_session = _rules(session, sitting, started_min_ago=5, min_submit_min=30)
    opens = exam_session.starts_at + dt.timedelta(minutes=30)
    sock, attempt_id = _socket(app, client, sitting, 0)
    assert sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)["ok"]
    ack = sock.emit("submit", {"attempt_id": attempt_id, "key": "s1"}, namespace=NS, callback=True)
    assert ack["ok"] is False and ack["error"] == "submit_too_early"
    assert abs((dt.datetime.fromisoformat(ack["opens_at"].replace("Z", "+00:00")) - opens).total_seconds()) < 1
    body = client.get("/api/attempt").get_json()
    assert body["submit_opens_at"] == ack["opens_at"]

    other = app.test_client()
    token = sitting.login(other, 1)
    assert _http_start(other, token, sitting.attempt_ids[1]).get_json()["status"] == "in_progress"
    response = other.post(f"/api/attempts/{sitting.attempt_ids[1]}/submit",
                          json={"key": "h1", "workstation": "http-ws"}, headers={"X-CSRFToken": token})
    assert response.status_code == 409
    assert response.get_json()["error"] == "submit_too_early" and response.get_json()["opens_at"] == ack["opens_at"]

    # Once the minimum time has passed (the sitting started 31 minutes ago), 交卷 is accepted.
    _rules(session, sitting, started_min_ago=31, min_submit_min=30)
    ack = sock.emit("submit", {"attempt_id": attempt_id, "key": "s2"}, namespace=NS, callback=True)
    assert ack["ok"] and ack["status"] in ("submitted", "scored")


def test_a_candidate_cannot_admit_themselves_late(app: Flask, client: FlaskClient, sitting: Sitting) -> None:
    token = sitting.login(client, 0)
    response = client.post(f"/proctor/attempts/{sitting.attempt_ids[0]}/admit_late", json={"reason": "x"},
                           headers={"X-CSRFToken": token})
    assert response.status_code in (302, 401, 403)

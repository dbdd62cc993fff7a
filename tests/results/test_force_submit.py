"""A force-submit for misconduct (违纪) carries its reason and category, in Chinese, to the candidate's screen,
the proctor's log and the results list; the categories are data (exam_server/delivery/misconduct.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.misconduct import misconduct_codes
from exam_server.delivery.models import Attempt

if TYPE_CHECKING:
    from proctor_support import Seated

pytest_plugins = ["proctor_support"]  # fixtures: seated (with its helpers), request_scoped_g

EX = "/exam"
WHY = "考生在座位下使用手机"


def _started(app: Flask, seated: Seated, index: int) -> tuple[Any, FlaskClient, str]:
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    assert seated.post_json(proctor, f"/proctor/attempts/{seated.attempt_ids[index]}/check_in", token).status_code == 200
    client = app.test_client()
    seated.candidate_login(client, index)
    sock = seated.exam_socket(app, client)
    assert sock.emit("join", {"attempt_id": seated.attempt_ids[index], "workstation": "ws-a"}, namespace=EX,
                     callback=True)["ok"]
    assert sock.emit("start", {"attempt_id": seated.attempt_ids[index]}, namespace=EX, callback=True)["ok"]
    return sock, proctor, token


def test_misconduct_codes_are_data_with_chinese_labels() -> None:
    codes = misconduct_codes()
    assert len(codes) >= 5 and codes["WJ01"] == "携带或使用通讯工具、电子设备"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in codes.values())


def test_a_force_submit_for_misconduct_says_so_to_the_candidate_the_proctor_and_the_results(
    app: Flask, seated: Seated, session: Session
) -> None:
    sock, proctor, token = _started(app, seated, 0)
    attempt_id = seated.attempt_ids[0]
    sock.get_received(EX)
    path = f"/proctor/attempts/{attempt_id}/force_submit"
    # An unknown category is refused, naming the ones there are.
    bad = seated.post_json(proctor, path, token, {"reason": WHY, "misconduct": "NOPE"}).get_json()
    assert bad["ok"] is False and "携带或使用通讯工具" in bad["message"]
    ok = seated.post_json(proctor, path, token, {"reason": WHY, "misconduct": "WJ01"}).get_json()
    assert ok["ok"], ok
    expected = f"监考员强制交卷（违纪：携带或使用通讯工具、电子设备）：{WHY}"

    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    assert (attempt.submit_reason, attempt.submit_note, attempt.misconduct_code) == ("proctor", WHY, "WJ01")

    # The candidate's screen: the pushed state and a rejoin both carry the words.
    pushed = [m["args"][0] for m in sock.get_received(EX) if m["name"] == "attempt_state"]
    assert pushed and pushed[-1]["submit_text"] == expected
    rejoined = sock.emit("join", {"attempt_id": attempt_id, "workstation": "ws-a"}, namespace=EX, callback=True)
    assert rejoined.get("submit_text") == expected, rejoined

    # The proctor's log: never "交卷：proctor".
    activity = proctor.get(f"/proctor/rooms/{seated.room1}/seats").get_json()["activity"]
    line = next(a for a in activity if a["kind"] == "submitted")
    assert line["payload"]["reason"] == expected
    assert all(a["payload"].get("reason") != "proctor" for a in activity)

    # The results list.
    staff = app.test_client()
    seated.staff_login(staff, "staff")
    page = staff.get(f"/results/sessions/{attempt.session_id}").get_data(as_text=True)
    assert expected in page


def test_a_force_submit_without_misconduct_says_it_was_forced_not_a_normal_submit(
    app: Flask, seated: Seated, session: Session
) -> None:
    sock, proctor, token = _started(app, seated, 1)
    attempt_id = seated.attempt_ids[1]
    assert seated.post_json(proctor, f"/proctor/attempts/{attempt_id}/force_submit", token,
                            {"reason": "考生身体不适，自愿结束"}).get_json()["ok"]
    session.expire_all()
    attempt = session.scalar(select(Attempt).where(Attempt.id == attempt_id))
    assert attempt.misconduct_code == ""
    rejoined = sock.emit("join", {"attempt_id": attempt_id, "workstation": "ws-a"}, namespace=EX, callback=True)
    assert rejoined["submit_text"] == "监考员强制交卷：考生身体不适，自愿结束"

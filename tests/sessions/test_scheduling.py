"""Sittings staff create and their schedule: approved applicants into seats in one action, parallel forms by seat,
the theory-exempt listed and never seated, all or nothing, changes audited until the sitting opens; the initial
password sealed until the first login, printed, and reset with the old sessions ended; the list commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import SMALL_PAPER, csrf_token_from
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.demo import demo_id_number, seed_exam
from exam_server.sessions import credentials, scheduling
from exam_server.sessions import operations as ops
from exam_server.sessions.models import Candidate, ExamSession, SessionExemption, Ticket
from exam_server.sessions.scheduling import Applicant
from item_bank.audit import AuditEvent
from item_bank.db import utcnow
from item_bank.models import Form

SECRET = "test-secret"


@pytest.fixture
def locked_forms(app: Flask, session: Session, small_bank_csv: Path) -> list[Form]:
    seeded = seed_exam(session, bank_path=small_bank_csv, sections=SMALL_PAPER, n_candidates=1, n_forms=2,
                       hash_profile="low", staff_password="pw-staff")
    return [f for f in (session.get(Form, i) for i in seeded.form_ids) if f is not None]


def _applicants(n: int, exempt: set[int] = frozenset()) -> list[Applicant]:  # type: ignore[assignment]
    import random

    rng = random.Random(7)
    return [Applicant(id_number=demo_id_number(900 + i, rng), name=f"考生{i}", guard_cert_no=f"C{i:05d}",
                      guard_cert_date=dt.date(2020, 1, 1), application_id=None,
                      theory_exemption="保安员证发证未满 3 年，免考理论知识" if i in exempt else "")
            for i in range(n)]


def _sitting(session: Session, forms: list[Form], seats: int, code: str = "T-1") -> ExamSession:
    site = ops.create_site(session, code=f"S-{code}", name="测试考点", actor="t")
    room = ops.create_room(session, site, code="01", name="第1考场", seats=seats, actor="t")
    start = utcnow() + dt.timedelta(days=1)
    return scheduling.create_sitting(session, code=code, name="测试场次", forms=forms, rooms=[room], starts_at=start,
                                     ends_at=start + dt.timedelta(minutes=90), actor="t", level=5, part="theory")


def test_scheduling_leaves_the_theory_exempt_out_and_gives_neighbours_different_forms(
    session: Session, locked_forms: list[Form]
) -> None:
    assert len(locked_forms) == 2
    exam_session = _sitting(session, locked_forms, seats=6)
    report = scheduling.schedule(session, exam_session, _applicants(5, exempt={2}), "t", secret=SECRET)
    assert report.scheduled == 4 and [name for name, _id, _r in report.exempt] == ["考生2"]
    tickets = session.scalars(select(Ticket).where(Ticket.session_id == exam_session.id)
                              .order_by(Ticket.number)).all()
    assert sorted(t.candidate.name for t in tickets) == ["考生0", "考生1", "考生3", "考生4"]
    assert [t.seat.number for t in tickets] == [1, 2, 3, 4]  # type: ignore[union-attr]
    assert [t.form_id for t in tickets] == [locked_forms[0].id, locked_forms[1].id] * 2
    exempt = session.scalars(select(SessionExemption).where(SessionExemption.session_id == exam_session.id)).all()
    assert [e.candidate.name for e in exempt] == ["考生2"] and "免考" in exempt[0].reason
    # Attempts are prepared as before, each on its seat's form.
    attempts = session.scalars(select(Attempt).where(Attempt.session_id == exam_session.id)).all()
    assert sorted((a.ticket_id, a.form_id) for a in attempts) == sorted((t.id, t.form_id) for t in tickets)
    # A late addition fills the next seat; those already scheduled are counted, not doubled.
    again = scheduling.schedule(session, exam_session, _applicants(6, exempt={2}), "t", secret=SECRET)
    assert again.scheduled == 1 and again.already == 4
    assert session.scalar(select(func.count()).select_from(Attempt).where(Attempt.session_id == exam_session.id)) == 5


def test_scheduling_is_all_or_nothing_when_seats_are_short(session: Session, locked_forms: list[Form]) -> None:
    exam_session = _sitting(session, locked_forms, seats=2)
    before = session.scalar(select(func.count()).select_from(Candidate))
    with pytest.raises(ops.SessionSetupError, match="座位不够：要安排 3 名考生") as refused:
        scheduling.schedule(session, exam_session, _applicants(3), "t", secret=SECRET)
    assert refused.value.code == "not_enough_seats"
    assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.session_id == exam_session.id)) == 0
    assert session.scalar(select(func.count()).select_from(Candidate)) == before


def test_schedule_changes_are_audited_and_refused_once_the_sitting_opens(
    session: Session, locked_forms: list[Form]
) -> None:
    exam_session = _sitting(session, locked_forms, seats=6)
    scheduling.schedule(session, exam_session, _applicants(3), "t", secret=SECRET)
    first, second, third = session.scalars(select(Ticket).where(Ticket.session_id == exam_session.id)
                                           .order_by(Ticket.number)).all()
    with pytest.raises(ops.SessionSetupError, match="必须填写原因"):
        scheduling.set_accommodation(session, first, extra_min=15, separate_room=False, reason=" ", actor="t")
    scheduling.set_accommodation(session, first, extra_min=15, separate_room=True, reason="视力障碍，医院证明", actor="t")
    scheduling.move(session, second, scheduling.sitting_rooms(exam_session)[0].seats[5], "t")
    scheduling.withdraw(session, third, "t", "本人申请放弃")
    assert third.status == "withdrawn" and third.seat_id is None
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "ticket")))
    assert {"set_accommodation", "assign_seat", "withdraw_ticket"} <= actions

    attempt = session.scalar(select(Attempt).where(Attempt.ticket_id == first.id))
    assert attempt is not None
    attempt.started_at = utcnow()
    session.commit()
    for change in (lambda: scheduling.withdraw(session, second, "t", "x"),
                   lambda: scheduling.schedule(session, exam_session, _applicants(4), "t", secret=SECRET),
                   lambda: scheduling.set_accommodation(session, second, extra_min=5, separate_room=False,
                                                        reason="x", actor="t")):
        with pytest.raises(ops.SessionSetupError, match="已开考") as refused:
            change()
        assert refused.value.code == "sitting_opened"


def test_the_initial_password_is_sealed_until_the_first_login_and_a_reset_ends_the_old_sessions(
    app: Flask, session: Session, locked_forms: list[Form]
) -> None:
    exam_session = _sitting(session, locked_forms, seats=6)
    exam_session.starts_at = utcnow() - dt.timedelta(minutes=1)
    session.commit()
    scheduling.schedule(session, exam_session, _applicants(2), "t", secret=app.config["SECRET_KEY"])
    ticket = session.scalars(select(Ticket).where(Ticket.session_id == exam_session.id).order_by(Ticket.number)).first()
    assert ticket is not None and ticket.password_hash == "" and ticket.password_sealed
    password = credentials.printable_passwords([ticket], app.config["SECRET_KEY"])[ticket.id]
    assert password.isdigit() and password not in ticket.password_sealed
    assert credentials.printable_passwords([ticket], "another key") == {}  # sealed under this server's key

    candidate = app.test_client()
    token = csrf_token_from(candidate.get("/login").get_data(as_text=True))
    assert candidate.post("/login", data={"ticket": ticket.number, "password": "000000" if password != "000000"
                                          else "111111", "csrf_token": token}).status_code == 401
    assert candidate.post("/login", data={"ticket": ticket.number, "password": password,
                                          "csrf_token": token}).status_code == 302
    session.expire_all()
    assert ticket.password_sealed is None and ticket.password_hash.startswith(credentials.TICKET_HASH_PREFIX)
    assert credentials.printable_passwords([ticket], app.config["SECRET_KEY"]) == {}  # a reprint shows none
    assert candidate.get("/api/attempt").status_code == 200

    # centre staff reset it (the proctor of the room may too): the old session ends, the old password fails.
    staff = app.test_client()
    staff_token = csrf_token_from(staff.get("/staff/login").get_data(as_text=True))
    assert staff.post("/staff/login", data={"username": "staff", "password": "pw-staff",
                                            "csrf_token": staff_token}).status_code == 302
    page = staff.post("/proctor/logins/password", data={"number": ticket.number, "reason": "考生忘记密码，已核对身份证",
                                                        "csrf_token": staff_token})
    assert page.status_code == 200 and page.headers.get("Cache-Control") == "no-store"
    new_password = page.get_data(as_text=True).split('id="new-password">')[1].split("<")[0]
    assert new_password.isdigit()
    assert candidate.get("/api/attempt").status_code in (302, 401)
    other = app.test_client()
    token = csrf_token_from(other.get("/login").get_data(as_text=True))
    if new_password != password:
        assert other.post("/login", data={"ticket": ticket.number, "password": password,
                                          "csrf_token": token}).status_code == 401
    assert other.post("/login", data={"ticket": ticket.number, "password": new_password,
                                      "csrf_token": token}).status_code == 302
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "reset_password")) is not None

    # A candidate may not reset anyone's password.
    assert other.post("/proctor/logins/password", data={"number": ticket.number, "reason": "x",
                                                        "csrf_token": token}).status_code in (302, 401, 403)


def test_the_sitting_commands_print_codes_first(app: Flask, session: Session, locked_forms: list[Form]) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-site", "ZH01", "珠海考点", "--city", "珠海"]).exit_code == 0
    for room in ("01", "02"):
        assert runner.invoke(args=["create-room", "ZH01", room, f"第{room}考场", "--seats", "30"]).exit_code == 0
    result = runner.invoke(args=["create-sitting", "--level", "5", "--part", "theory", "--form",
                                 ",".join(f.code for f in locked_forms), "--site", "ZH01", "--rooms", "01,02",
                                 "--date", "2026-12-20", "--start", "09:00", "--end", "10:30", "--late-entry", "10"])
    assert result.exit_code == 0, result.output
    code = result.output.strip()
    exam_session = session.scalar(select(ExamSession).where(ExamSession.code == code))
    assert exam_session is not None and exam_session.duration_s == 90 * 60 and exam_session.late_entry_min == 10
    assert exam_session.min_submit_min == 30 and exam_session.timing == "common"
    assert exam_session.starts_at == dt.datetime(2026, 12, 20, 1, 0, tzinfo=dt.UTC)  # 09:00 Beijing
    assert [sr.room.code for sr in exam_session.rooms] == ["01", "02"]

    sittings = runner.invoke(args=["list-sittings"]).output.splitlines()
    assert code in [line.split("\t")[0] for line in sittings]
    sites = runner.invoke(args=["list-sites"]).output.splitlines()
    assert "ZH01" in [line.split("\t")[0] for line in sites]

    refused = runner.invoke(args=["create-sitting", "--level", "4", "--part", "theory", "--form",
                                  locked_forms[0].code, "--site", "ZH01", "--rooms", "01", "--date", "2026-12-20",
                                  "--start", "09:00", "--end", "10:30", "--code", "X4"])
    assert refused.exit_code != 0 and "不是 4 级" in refused.output


def test_schedule_sitting_command_takes_a_units_approved_applications(
    app: Flask, session: Session, small_bank_csv: Path
) -> None:
    """The demo's way in (import, 初审, 复审, schedule), then `examctl schedule-sitting` for a second sitting."""
    seeded = seed_exam(session, bank_path=small_bank_csv, sections=SMALL_PAPER, n_candidates=10, hash_profile="low",
                       staff_password="pw-staff", via_applications=True)
    first = session.get(ExamSession, seeded.exam_session_id)
    assert first is not None and len(seeded.logins) == 8 and len(scheduling.exemptions(session, first)) == 2
    form = session.get(Form, seeded.form_ids[0])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-sitting", "--level", "5", "--part", "theory", "--form", form.code,  # type: ignore[union-attr]
                                 "--site", "GZ01", "--rooms", "01", "--date", "2026-12-21", "--start", "14:00",
                                 "--end", "15:30", "--code", "SECOND"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["schedule-sitting", "SECOND", "--unit", "U0001"])
    assert result.exit_code == 0, result.output
    assert "已安排 8 名考生" in result.output and "2 人免考理论知识" in result.output
    assert runner.invoke(args=["schedule-sitting", "SECOND"]).exit_code != 0  # nothing chosen


def test_ticket_numbers_carry_the_sittings_beijing_date(session: Session, locked_forms: list[Form]) -> None:
    site = ops.create_site(session, code="S-BJ", name="测试考点", actor="t")
    room = ops.create_room(session, site, code="01", name="第1考场", seats=2, actor="t")
    start = dt.datetime(2026, 12, 19, 23, 30, tzinfo=dt.UTC)  # 2026-12-20 07:30 in Beijing
    sitting = scheduling.create_sitting(session, code="BJ-1", name="早场", forms=locked_forms, rooms=[room],
                                        starts_at=start, ends_at=start + dt.timedelta(minutes=90), actor="t",
                                        level=5, part="theory")
    scheduling.schedule(session, sitting, _applicants(1), "t", secret=SECRET)
    ticket = session.scalar(select(Ticket).where(Ticket.session_id == sitting.id))
    assert ticket is not None and ticket.number.startswith("261220")

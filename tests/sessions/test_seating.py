"""Sites, rooms, seats and seating; admission tickets and seating lists as PDF."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import csrf_token_from
from flask import Flask
from job_routes import job_file, job_of, refused_job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.jobs.models import Job
from exam_server.sessions import operations as ops
from exam_server.sessions.models import Candidate, ExamSession, Room, Seat, Site, Ticket
from exam_server.sessions.pdf import PdfFontMissing, seating_list_pdf, tickets_pdf

if TYPE_CHECKING:
    from proctor_support import Seated

pytest_plugins = ["proctor_support"]


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The text of a PDF through poppler's pdftotext (CI installs poppler-utils)."""
    if not shutil.which("pdftotext"):
        from conftest import need_service

        need_service("pdftotext not found (apt-get install poppler-utils)")
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_mask_id_number() -> None:
    assert ops.mask_id_number("440106199001011234") == "440106********1234"
    assert ops.mask_id_number("12345") == "12***"


def test_places_are_created_once_and_seats_never_shrink(app: Flask, session: Session) -> None:
    site = ops.create_site(session, code="GZ09", name="广州市第九考点", city="广州", actor="t")
    with pytest.raises(ops.SessionSetupError, match="GZ09 已存在"):
        ops.create_site(session, code="GZ09", name="again", actor="t")
    with pytest.raises(ops.SessionSetupError, match="必须填写"):
        ops.create_site(session, code=" ", name="x", actor="t")
    room = ops.create_room(session, site, code="01", name="第1考场", seats=5, actor="t")
    assert [s.number for s in room.seats] == [1, 2, 3, 4, 5]
    with pytest.raises(ops.SessionSetupError, match="已有编号为 01"):
        ops.create_room(session, site, code="01", name="重复", actor="t")
    ops.set_seat_count(session, room, 8, "t")
    assert len(room.seats) == 8
    with pytest.raises(ops.SessionSetupError, match="座位不能减少"):
        ops.set_seat_count(session, room, 4, "t")
    with pytest.raises(ops.SessionSetupError, match="1 到 200"):
        ops.set_seat_count(session, room, 0, "t")


def test_seating_is_all_or_nothing_and_a_seat_holds_one_candidate(
    app: Flask, seated: Seated, session: Session
) -> None:
    exam_session = session.get(ExamSession, seated.seeded.exam_session_id)
    site = session.scalar(select(Site))
    small = ops.create_room(session, site, code="03", name="第3考场", seats=1, actor="t")
    # Unseat everybody, then ask for too few seats: nothing changes.
    for ticket in session.scalars(select(Ticket)):
        ops.assign_seat(session, ticket, None, "t")
    session.commit()
    with pytest.raises(ops.SessionSetupError, match="座位不够：还有 4 名考生未安排座位"):
        ops.seat_candidates(session, exam_session, [small], "t")
    session.rollback()
    assert session.scalar(select(Ticket).where(Ticket.seat_id.is_not(None))) is None
    room1 = session.get(Room, seated.room1)
    seated_now = ops.seat_candidates(session, exam_session, [small, room1], "t")
    session.commit()
    assert [t.seat.room.code for t in seated_now] == ["03", "01", "01", "01"]
    assert [t.seat.number for t in seated_now] == [1, 1, 2, 3]
    first, second = seated_now[0], seated_now[1]
    with pytest.raises(ops.SessionSetupError, match="已安排给考生"):
        ops.assign_seat(session, second, first.seat, "t")
    listed = ops.seating(session, exam_session, room1)
    assert [t.seat.number for t in listed] == [1, 2, 3]
    assert {r.code for r in ops.rooms_of_session(session, exam_session)} == {"01", "03"}


def test_the_demo_seats_its_candidates_with_a_proctor(app: Flask, seated: Seated, session: Session) -> None:
    tickets = session.scalars(select(Ticket)).all()
    assert all(t.seat is not None for t in tickets)
    proctor = session.scalar(select(User).where(User.username == "proctor"))
    assert proctor.room_id == seated.room1


def test_centre_staff_set_up_places_through_the_pages(app: Flask, seated: Seated, session: Session) -> None:
    staff = app.test_client()
    seated.staff_login(staff, "staff")
    page = staff.get("/centre/sites").get_data(as_text=True)
    assert "广州市保安员职业技能鉴定上机考点" in page and "监考员 李老师" in page
    token = csrf_token_from(page)
    response = staff.post("/centre/sites", data={"code": "SZ01", "name": "深圳考点", "city": "深圳", "csrf_token": token})
    assert response.status_code == 302
    site = session.scalar(select(Site).where(Site.code == "SZ01"))
    response = staff.post(f"/centre/sites/{site.id}/rooms",
                          data={"code": "01", "name": "第1考场", "seats": "12", "csrf_token": token})
    assert response.status_code == 302
    room = session.scalar(select(Room).where(Room.site_id == site.id))
    assert len(room.seats) == 12
    again = staff.post("/centre/sites", data={"code": "SZ01", "name": "x", "csrf_token": token})
    assert again.status_code == 400 and "SZ01 已存在" in again.get_data(as_text=True)
    fewer = staff.post(f"/centre/rooms/{room.id}/seats", data={"seats": "3", "csrf_token": token})
    assert fewer.status_code == 400 and "座位不能减少" in fewer.get_data(as_text=True)
    # Put proctor2 in charge of the new room.
    user = session.scalar(select(User).where(User.username == "proctor2"))
    response = staff.post(f"/centre/rooms/{room.id}/proctor", data={"user_id": str(user.id), "csrf_token": token})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, user.id).room_id == room.id
    grader = session.scalar(select(User).where(User.username == "grader1"))
    refused = staff.post(f"/centre/rooms/{room.id}/proctor", data={"user_id": str(grader.id), "csrf_token": token})
    assert refused.status_code == 400 and "没有监考员角色" in refused.get_data(as_text=True)
    # Without the form's token nothing is created.
    assert staff.post("/centre/sites", data={"code": "X1", "name": "x"}).status_code == 400


def test_seating_page_seats_and_moves(app: Flask, seated: Seated, session: Session) -> None:
    staff = app.test_client()
    seated.staff_login(staff, "staff")
    exam_session_id = seated.seeded.exam_session_id
    for ticket in session.scalars(select(Ticket)):
        ops.assign_seat(session, ticket, None, "t")
    session.commit()
    page = staff.get(f"/centre/sessions/{exam_session_id}/seating").get_data(as_text=True)
    assert "未安排 <b>4</b> 人" in page
    token = csrf_token_from(page)
    none = staff.post(f"/centre/sessions/{exam_session_id}/seating", data={"csrf_token": token})
    assert none.status_code == 400 and "至少选择一个考场" in none.get_data(as_text=True)
    response = staff.post(f"/centre/sessions/{exam_session_id}/seating",
                          data={"room_id": [str(seated.room2)], "csrf_token": token})
    assert response.status_code == 302
    session.expire_all()
    numbers = sorted(t.seat.number for t in session.scalars(select(Ticket)))
    assert numbers == [1, 2, 3, 4]
    ticket = session.scalar(select(Ticket).order_by(Ticket.number))
    response = staff.post(f"/centre/tickets/{ticket.id}/seat",
                          data={"room_id": str(seated.room1), "seat": "7", "csrf_token": token})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).seat.number == 7
    taken = session.scalar(select(Ticket).where(Ticket.id != ticket.id).order_by(Ticket.number))
    clash = staff.post(f"/centre/tickets/{taken.id}/seat",
                       data={"room_id": str(seated.room1), "seat": "7", "csrf_token": token})
    assert clash.status_code == 400 and "已安排给考生" in clash.get_data(as_text=True)


def test_only_centre_staff_manage_places(app: Flask, seated: Seated) -> None:
    proctor = app.test_client()
    token = seated.staff_login(proctor, "proctor")
    assert proctor.get("/centre/sites").status_code == 403
    assert proctor.post("/centre/sites", data={"code": "Z", "name": "z", "csrf_token": token}).status_code == 403
    assert proctor.get(f"/centre/sessions/{seated.seeded.exam_session_id}/tickets.pdf").status_code == 403
    # A proctor may print the seating list of their own room, not another's.
    sid = seated.seeded.exam_session_id
    assert proctor.get(f"/centre/sessions/{sid}/rooms/{seated.room1}/seating.pdf").status_code == 200
    assert proctor.get(f"/centre/sessions/{sid}/rooms/{seated.room2}/seating.pdf").status_code == 403
    assert app.test_client().get("/centre/sites").status_code in (302, 401)


def test_ticket_and_seating_pdfs(app: Flask, seated: Seated, session: Session, tmp_path: Path) -> None:
    staff = app.test_client()
    token = seated.staff_login(staff, "staff")
    sid = seated.seeded.exam_session_id
    # The whole sitting's tickets are a job; its file is the PDF.
    job = job_of(session, staff.post(f"/centre/sessions/{sid}/tickets.pdf", data={"csrf_token": token}),
                 "sessions.tickets")
    assert job.result_file == f"准考证-{session.get(ExamSession, sid).code}.pdf" and job.result["tickets"] == 4
    data = job_file(staff, job)
    assert data.startswith(b"%PDF")
    text = pdf_text(data, tmp_path)
    ticket = session.scalar(select(Ticket).order_by(Ticket.number))
    person = session.get(Candidate, ticket.candidate_id)
    assert "准考证" in text and ticket.number in text and person.name in text
    assert ops.mask_id_number(person.id_number) in text and person.id_number not in text
    assert "第1考场" in text and "广州市保安员职业技能鉴定上机考点" in text and "（北京时间）" in text
    assert "考生须知" in text
    one_room = staff.get(f"/centre/sessions/{sid}/tickets.pdf?room={seated.room2}")
    assert one_room.mimetype == "application/pdf" and "filename*=UTF-8''" in one_room.headers["Content-Disposition"]
    assert pdf_text(one_room.data, tmp_path).count("准考证号") == 1

    listing = staff.get(f"/centre/sessions/{sid}/rooms/{seated.room1}/seating.pdf")
    text = pdf_text(listing.data, tmp_path)
    assert "考场座位表" in text and "考生签名" in text and "本考场考生 3 人" in text
    assert person.name in text

    # A candidate prints their own ticket, and only theirs.
    candidate = app.test_client()
    seated.candidate_login(candidate, 0)
    mine = candidate.get("/my-ticket.pdf")
    assert mine.status_code == 200 and seated.seeded.logins[0][0] in pdf_text(mine.data, tmp_path)
    assert candidate.get(f"/centre/sessions/{sid}/tickets.pdf").status_code in (302, 401, 403)


def test_whole_sitting_pdfs_are_jobs_only_centre_staff_start_or_read(
    app: Flask, seated: Seated, session: Session, tmp_path: Path
) -> None:
    staff = app.test_client()
    token = seated.staff_login(staff, "staff")
    sid = seated.seeded.exam_session_id
    # The whole sitting is no longer drawn on the exam server: the old link leads to the job's button.
    moved = staff.get(f"/centre/sessions/{sid}/tickets.pdf")
    assert moved.status_code == 302 and moved.headers["Location"].endswith(f"/centre/sessions/{sid}/seating")
    assert "生成全部准考证" in staff.get(moved.headers["Location"]).get_data(as_text=True)

    job = job_of(session, staff.post(f"/centre/sessions/{sid}/seating-lists", data={"csrf_token": token}),
                 "sessions.seating_lists")
    with zipfile.ZipFile(io.BytesIO(job_file(staff, job))) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 2 and all(name.endswith(".pdf") for name in names)
        texts = [pdf_text(archive.read(name), tmp_path) for name in names]
    assert sorted(text.count("考场座位表") >= 1 and ("本考场考生 3 人" in text) for text in texts) == [False, True]
    assert "已生成 2 个考场的座位表" in staff.get(f"/jobs/{job.id}").get_data(as_text=True)

    before = session.scalar(select(func.count(Job.id)))
    proctor = app.test_client()
    ptoken = seated.staff_login(proctor, "proctor")
    candidate = app.test_client()
    ctoken = seated.candidate_login(candidate, 0)
    for path in (f"/centre/sessions/{sid}/tickets.pdf", f"/centre/sessions/{sid}/seating-lists"):
        assert proctor.post(path, data={"csrf_token": ptoken}).status_code == 403
        assert candidate.post(path, data={"csrf_token": ctoken}).status_code in (302, 401, 403)
    assert session.scalar(select(func.count(Job.id))) == before
    refused_job(proctor, job)
    refused_job(candidate, job)


def test_a_missing_font_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from reportlab.pdfbase import pdfmetrics

    from exam_server.sessions import pdf

    monkeypatch.setattr(pdf, "FONT_CANDIDATES", ("/nonexistent/font.ttc",))
    monkeypatch.setattr(pdf, "FONT_NAME", "CJK-missing-test")
    monkeypatch.setattr(pdf.shutil, "which", lambda _name: None)
    monkeypatch.delenv("EXAM_PDF_FONT", raising=False)
    assert "CJK-missing-test" not in pdfmetrics.getRegisteredFontNames()
    with pytest.raises(PdfFontMissing, match="fonts-wqy-zenhei"):
        tickets_pdf([])
    monkeypatch.setenv("EXAM_PDF_FONT", "/nonexistent/other.ttf")
    with pytest.raises(PdfFontMissing, match="EXAM_PDF_FONT"):
        seating_list_pdf(None, None, [])  # type: ignore[arg-type]


def test_cli_sets_up_places_and_prints(app: Flask, seated: Seated, session: Session, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    code = session.get(ExamSession, seated.seeded.exam_session_id).code
    result = runner.invoke(args=["create-site", "FS01", "佛山考点", "--city", "佛山"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-room", "FS01", "01", "第1考场", "--seats", "40"])
    assert result.exit_code == 0 and "40 个座位" in result.output
    assert runner.invoke(args=["create-room", "NOPE", "01", "x", "--seats", "4"]).exit_code != 0
    for ticket in session.scalars(select(Ticket)):
        ops.assign_seat(session, ticket, None, "t")
    session.commit()
    result = runner.invoke(args=["seat-candidates", code, "--room", "FS01:01"])
    assert result.exit_code == 0 and "4 名考生" in result.output
    session.expire_all()
    assert {t.seat.room.site.code for t in session.scalars(select(Ticket))} == {"FS01"}
    out = tmp_path / "tickets.pdf"
    result = runner.invoke(args=["print-tickets", code, "-o", str(out)])
    assert result.exit_code == 0 and out.read_bytes().startswith(b"%PDF")
    out2 = tmp_path / "seating.pdf"
    result = runner.invoke(args=["print-seating", code, "FS01:01", "-o", str(out2)])
    assert result.exit_code == 0 and "4 人" in result.output and out2.read_bytes().startswith(b"%PDF")
    assert runner.invoke(args=["print-seating", code, "FS01:99", "-o", str(out2)]).exit_code != 0
    result = runner.invoke(args=["assign-proctor", "proctor2", "FS01", "01"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    user = session.scalar(select(User).where(User.username == "proctor2"))
    assert session.get(Room, user.room_id).site.code == "FS01"
    assert session.scalar(select(Seat).where(Seat.room_id == user.room_id, Seat.number == 40)) is not None

"""A real sitting without seed code, in Debian's Chromium against a real server process: a unit imports its
trainees → 初审 by the unit → 复审 by the centre → the centre creates a sitting and schedules them (the
theory-exempt listed) → the ticket PDF, rendered and read, shows the password → the candidate logs in with it and
sits."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from browser_support import LiveServer, chromium_browser, seed_file_database
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.applications.idcard import make_id_number
from exam_server.applications.intake import COLUMNS
from exam_server.delivery.models import Attempt
from exam_server.demo import DEMO_UNIT
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.db import make_engine, utcnow

pytestmark = pytest.mark.browser
BEIJING = dt.timezone(dt.timedelta(hours=8))


def _workbook(path: Path, today: dt.date) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    # 王五's 保安员证 is 5 years old: he sits theory; 赵六's is 1 year old: exempt from theory (listed, not seated).
    ws.append(["王五", make_id_number("440106", dt.date(1990, 3, 1), 11), "男", "13800000011", "广州安保公司",
               "粤公保00000011", (today - dt.timedelta(days=5 * 365)).isoformat(), "初级保安员", DEMO_UNIT[1]])
    ws.append(["赵六", make_id_number("440106", dt.date(1992, 5, 2), 13), "男", "13800000013", "广州安保公司",
               "粤公保00000013", (today - dt.timedelta(days=365)).isoformat(), "五级", DEMO_UNIT[1]])
    wb.save(path)


def _staff_login(page: object, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", "pw-staff")  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def _review_all(page: object, base: str, status: str) -> None:
    page.goto(f"{base}/applications?status={status}")  # type: ignore[attr-defined]
    boxes = page.locator("input[name=ids]")  # type: ignore[attr-defined]
    assert boxes.count() == 2
    for i in range(boxes.count()):
        boxes.nth(i).check()
    page.get_by_role("button", name="提交审核").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def test_a_unit_imports_trainees_who_are_reviewed_scheduled_ticketed_and_sit(
    tmp_path: Path, small_bank_csv: Path
) -> None:
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        from conftest import need_service

        need_service("pdftotext/pdftoppm not found (apt-get install poppler-utils)")
    url, _seeded = seed_file_database(tmp_path, small_bank_csv, n_candidates=1)
    # The province opens level 5 (its own screen, tested with applications); everything after is the day's path.
    from conftest import app_config

    from exam_server import create_app
    from exam_server.applications.operations import open_window
    from exam_server.extensions import db

    now = utcnow().astimezone(BEIJING)
    today = now.date()
    app = create_app(app_config(url))
    with app.app_context():
        for part in ("theory", "skill"):
            open_window(db.session, level=5, part=part, opens_on=today - dt.timedelta(days=10), closes_on=today,
                        exam_on=today, actor="cli:test")
        db.dispose()
    book = tmp_path / "学员.xlsx"
    _workbook(book, today)

    server = LiveServer(url, tmp_path / "instance", JOBS_BACKEND="immediate").start()
    try:
        with chromium_browser() as browser:
            base = server.url
            unit = browser.new_context().new_page()
            _staff_login(unit, base, "unit")
            unit.goto(f"{base}/applications/import")
            unit.locator("input[name=file][accept='.xlsx']").set_input_files(str(book))
            unit.get_by_role("button", name="导入").click()
            unit.wait_for_url(re.compile(r"/jobs/\d+$"))
            _review_all(unit, base, "submitted")  # 初审

            staff = browser.new_context().new_page()
            _staff_login(staff, base, "staff")
            _review_all(staff, base, "unit_approved")  # 复审

            # The centre creates a sitting that starts now in the demo site's first room.
            staff.goto(f"{base}/centre/sittings")
            start = now - dt.timedelta(minutes=1)
            end = min(start + dt.timedelta(minutes=90), start.replace(hour=23, minute=59))
            staff.fill("input[name=code]", "REAL-1")
            staff.fill("input[name=name]", "五级理论知识 正式场次")
            staff.locator("input[name=form_id]").first.check()
            staff.locator("input[name=room_id]").first.check()
            staff.fill("input[name=date]", start.strftime("%Y-%m-%d"))
            staff.fill("input[name=start]", start.strftime("%H:%M"))
            staff.fill("input[name=end]", end.strftime("%H:%M"))
            staff.get_by_role("button", name="创建场次").click()
            staff.wait_for_load_state()
            staff.get_by_role("link", name="REAL-1").click()
            staff.locator("input[name=unit_id]").first.check()
            staff.get_by_role("button", name="编排").click()
            staff.wait_for_url(re.compile(r"/jobs/\d+$"))

            engine = make_engine(url)
            with Session(engine) as s:
                sitting = s.scalar(select(ExamSession).where(ExamSession.code == "REAL-1"))
                assert sitting is not None
                ticket = s.scalar(select(Ticket).where(Ticket.session_id == sitting.id))
                assert ticket is not None and ticket.candidate.name == "王五"
                attempt = s.scalar(select(Attempt).where(Attempt.ticket_id == ticket.id))
                assert attempt is not None
                sitting_id, attempt_id = sitting.id, attempt.id
            staff.goto(f"{base}/centre/sittings/{sitting_id}")
            exempt = staff.locator("#exemptions").inner_text()
            assert "赵六" in exempt and "王五" not in exempt

            # The whole sitting's tickets (a job), downloaded, rendered and read.
            staff.goto(f"{base}/centre/sessions/{sitting_id}/seating")
            staff.get_by_role("button", name="生成全部准考证（PDF）").click()
            staff.wait_for_url(re.compile(r"/jobs/\d+$"))
            job_id = int(staff.url.rsplit("/", 1)[1])
            pdf = staff.request.get(f"{base}/jobs/{job_id}/file")
            assert pdf.ok
            (tmp_path / "tickets.pdf").write_bytes(pdf.body())
            text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "tickets.pdf"), "-"], capture_output=True,
                                  text=True, check=True).stdout
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(tmp_path / "tickets.pdf"),
                            str(tmp_path / "ticket")], check=True)
            assert next(tmp_path.glob("ticket*.png")).stat().st_size > 10_000
            number = re.search(r"准考证号\s+(\d+)", text).group(1)  # type: ignore[union-attr]
            password = re.search(r"初始密码\s+(\d{6})", text).group(1)  # type: ignore[union-attr]
            assert "王五" in text and "赵六" not in text and "开考 15 分钟后" in text and "30 分钟内不得交卷" in text

            # The proctor's check-in (centre staff may act on every room), then the candidate logs in and sits.
            token = staff.locator("meta[name=csrf-token]").get_attribute("content")
            admitted = staff.request.post(f"{base}/proctor/attempts/{attempt_id}/check_in", data="{}",
                                          headers={"X-CSRFToken": token or "", "Content-Type": "application/json"})
            assert admitted.ok, admitted.text()
            candidate = browser.new_context().new_page()
            candidate.goto(f"{base}/login")
            candidate.fill("#ticket", number)
            candidate.fill("#password", password)
            candidate.click("button[type=submit]")
            candidate.wait_for_url(f"{base}/exam")
            candidate.get_by_role("button", name="开始考试").click()
            candidate.wait_for_selector("#screen-exam:not([hidden])")
            candidate.locator(".option").first.click()
            candidate.wait_for_selector("#q-saved.ok")
            candidate.screenshot(path=str(tmp_path / "sitting.png"))
        with Session(engine) as s:
            answered = s.get(Attempt, attempt_id)
            assert answered is not None and answered.status == "in_progress" and answered.answered_count == 1
    finally:
        server.stop()

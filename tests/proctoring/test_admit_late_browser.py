"""The proctor's 准许迟到入场 in Debian's Chromium against a real server process: a candidate past the sitting's
late-entry cut-off is refused 开始考试; the console shows the seat as past the cut-off with a 准许迟到入场 button
that asks for the reason; once admitted the candidate starts."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from browser_support import LiveServer, chromium_browser, seed_file_database
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt, AttemptEvent
from exam_server.sessions.operations import SittingRules
from item_bank.db import make_engine, utcnow

pytestmark = pytest.mark.browser


def test_proctor_admits_a_late_candidate_with_a_reason(tmp_path: Path, small_bank_csv: Path) -> None:
    # The sitting began 30 minutes ago; entry closed 15 minutes after its start.
    url, seeded = seed_file_database(tmp_path, small_bank_csv, n_candidates=1, check_in_all=True,
                                     starts_at=utcnow() - dt.timedelta(minutes=30),
                                     rules=SittingRules(late_entry_min=15, min_submit_min=0))
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    number, password, name = seeded.logins[0]
    server = LiveServer(url, tmp_path / "instance").start()
    try:
        with chromium_browser() as browser:
            candidate = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
            candidate.goto(f"{server.url}/login")
            candidate.fill("#ticket", number)
            candidate.fill("#password", password)
            candidate.click("button[type=submit]")
            candidate.wait_for_url(f"{server.url}/exam")
            candidate.get_by_role("button", name="开始考试").click()
            candidate.wait_for_function("document.body.innerText.includes('不得入场')", timeout=8000)
            assert candidate.locator("#screen-exam").is_hidden()

            console = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            console.goto(f"{server.url}/staff/login")
            console.fill("#username", "proctor")
            console.fill("#password", "pw-staff")
            console.click("button[type=submit]")
            console.wait_for_url("**/proctor/rooms/*")
            console.wait_for_selector("#conn.ok")
            console.locator(".seat", has_text=name).click()
            assert "入场截止" in console.locator("#sel-facts").inner_text()
            admit = console.locator("#sel-buttons").get_by_role("button", name="准许迟到入场")
            admit.click()
            # The reason is required, asked in Chinese.
            console.click("#act-ok")
            assert "请填写原因" in console.locator("#act-error").inner_text()
            console.fill("#act-form textarea[name=reason]", "地铁故障，持站务证明")
            console.click("#act-ok")
            console.wait_for_selector("#activity li:has-text('准许迟到入场')", timeout=8000)
            console.screenshot(path=str(shots / "proctor-admit-late.png"))
            # Admitted: the seat no longer offers the button.
            console.wait_for_function(
                "!document.querySelector('#sel-buttons').innerText.includes('准许迟到入场')", timeout=8000)

            candidate.get_by_role("button", name="开始考试").click()
            candidate.wait_for_selector("#screen-exam:not([hidden])", timeout=8000)
    finally:
        server.stop()
    with Session(make_engine(url)) as s:
        attempt = s.scalar(select(Attempt))
        assert attempt is not None and attempt.late_admitted_at is not None
        event = s.scalar(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt.id,
                                                    AttemptEvent.kind == "admitted_late"))
        assert event is not None and event.payload["reason"] == "地铁故障，持站务证明"

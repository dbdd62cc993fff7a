"""A proctor and candidates in Debian's Chromium against a real server process: check-in, a pause
that reaches the candidate's screen within 2 seconds, and a move to another workstation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer, chromium_browser, seed_file_database

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path: Path, small_bank_csv: Path) -> Iterator[tuple[LiveServer, Any]]:
    url, seeded = seed_file_database(tmp_path, small_bank_csv, n_candidates=2, check_in_all=False)
    server = LiveServer(url, tmp_path / "instance").start()
    try:
        yield server, seeded
    finally:
        server.stop()


def candidate_page(browser: Any, base: str, number: str, password: str) -> Any:
    """A fresh browser context (its own workstation id) with the candidate logged in."""
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    page.goto(f"{base}/login")
    page.fill("#ticket", number)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/exam")
    return page


def test_proctor_admits_pauses_and_moves_a_candidate(live: tuple[LiveServer, Any], tmp_path: Path) -> None:
    server, seeded = live
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    number, password, name = seeded.logins[0]
    with chromium_browser() as browser:
        console = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        console.goto(f"{server.url}/staff/login")
        console.fill("#username", "proctor")
        console.fill("#password", "pw-staff")
        console.click("button[type=submit]")
        console.wait_for_url("**/proctor/rooms/*")
        console.wait_for_selector("#conn.ok")
        seat = console.locator(".seat", has_text=name)
        assert "未入场" in seat.inner_text()

        # Check-in: the candidate waits until the proctor has matched them with their ID.
        first = candidate_page(browser, server.url, number, password)
        first.wait_for_selector("#screen-wait:not([hidden])")
        assert "等待入场核验" in first.locator("#wait-title").inner_text()
        console.fill("#find-q", number)
        console.click("#find-form button[type=submit]")
        console.get_by_role("button", name="核验通过，准许入场").click()
        first.wait_for_selector("#screen-instructions:not([hidden])", timeout=5000)
        first.get_by_role("button", name="开始考试").click()
        first.wait_for_selector("#screen-exam:not([hidden])")
        for _ in range(2):
            first.locator(".option").first.click()
            first.wait_for_selector("#q-saved.ok")
            first.get_by_role("button", name="下一题 →").click()
        console.wait_for_function(
            "(name) => [...document.querySelectorAll('.seat')].some(s => s.textContent.includes(name)"
            " && s.textContent.includes('答题中'))", arg=name, timeout=8000)

        # Pause one candidate: their screen shows it, pushed (no reload). How fast is load.py's business.
        seat.click()
        console.locator("#sel-buttons").get_by_role("button", name="暂停").click()
        console.fill("#act-form textarea[name=reason]", "考生举手反映鼠标失灵")
        console.click("#act-ok")
        first.wait_for_function("document.getElementById('wait-title').textContent === '考试已暂停'"
                                " && !document.getElementById('screen-wait').hidden", timeout=30000)
        console.wait_for_function(
            "(name) => [...document.querySelectorAll('.seat')].some(s => s.textContent.includes(name)"
            " && s.textContent.includes('已暂停'))", arg=name, timeout=5000)
        console.screenshot(path=str(shots / "proctor-console.png"))
        first.screenshot(path=str(shots / "candidate-paused.png"))
        console.locator("#sel-buttons").get_by_role("button", name="恢复").click()
        console.click("#act-ok")
        first.wait_for_selector("#screen-exam:not([hidden])", timeout=5000)

        # The candidate's computer fails; they log in at another one and are held there.
        second = candidate_page(browser, server.url, number, password)
        try:
            second.wait_for_function("document.getElementById('wait-title').textContent === '请举手联系监考员'",
                                     timeout=5000)
        finally:
            second.screenshot(path=str(shots / "candidate-held.png"))
        console.locator(".seat .flagmove").wait_for(timeout=8000)
        console.screenshot(path=str(shots / "proctor-move-request.png"))
        console.locator("#sel-buttons").get_by_role("button", name="允许换机").click()
        console.fill("#act-form textarea[name=reason]", "原电脑死机")
        console.click("#act-ok")

        # The new screen resumes with the answers; the old one says why it was closed.
        second.wait_for_selector("#screen-exam:not([hidden])", timeout=8000)
        second.wait_for_function("document.querySelectorAll('.nav-cell.answered').length === 2", timeout=5000)
        first.wait_for_selector("#screen-done:not([hidden])", timeout=5000)
        assert first.locator("#done-title").inner_text() == "您已在其他机位继续考试"
        assert "另一台电脑" in first.locator("#done-text").inner_text()
        # Its clock stops and says why; no 退出 there (logging out would end the new workstation's login too).
        first.wait_for_function("document.getElementById('timer').textContent === '本机已关闭'", timeout=3000)
        assert first.locator("#logout-form").is_hidden()
        first.screenshot(path=str(shots / "candidate-closed.png"))

        # The room's notice reaches the screen that now holds the attempt.
        console.get_by_role("button", name="发送通知").click()
        console.fill("#act-form textarea[name=text]", "距考试结束还有 15 分钟，请抓紧时间。")
        console.click("#act-ok")
        second.wait_for_selector("#notices .notice", timeout=5000)
        assert "距考试结束还有 15 分钟" in second.locator("#notices .notice").first.inner_text()
        console.wait_for_selector("#activity li:has-text('考场通知')", timeout=8000)
        console.screenshot(path=str(shots / "proctor-console-after.png"))

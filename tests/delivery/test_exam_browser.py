"""A candidate sits the exam in Debian's Chromium against a real server process."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer, chromium_browser, seed_file_database

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path: Path, small_bank_csv: Path) -> Iterator[tuple[LiveServer, Any]]:
    url, seeded = seed_file_database(tmp_path, small_bank_csv)
    server = LiveServer(url, tmp_path / "instance", worker=True).start()
    try:
        yield server, seeded
    finally:
        server.stop()


def candidate_login(page: Any, base: str, number: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#ticket", number)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/exam")


def test_candidate_answers_reloads_and_submits_and_staff_see_the_score(
    live: tuple[LiveServer, Any], tmp_path: Path
) -> None:
    server, seeded = live
    number, password, _name = seeded.logins[0]
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        papers_fetched: list[str] = []
        page.on("request", lambda r: papers_fetched.append(r.url) if r.url.split("?")[0].endswith("/api/attempt")
                else None)
        candidate_login(page, server.url, number, password)
        page.get_by_role("button", name="开始考试").click()
        page.wait_for_selector("#screen-exam:not([hidden])")
        # The items on screen came with the start's acknowledgement: the page fetched no paper.
        assert page.locator(".nav-cell").count() == 10 and page.locator(".option").count() > 0
        assert papers_fetched == []
        chosen = []
        for _ in range(3):
            page.locator(".option").first.click()
            page.wait_for_selector("#q-saved.ok")
            chosen.append(page.locator(".option.chosen .opt-text").inner_text())
            page.screenshot(path=str(tmp_path / "exam.png"))
            page.get_by_role("button", name="下一题 →").click()
        assert page.locator(".nav-cell.answered").count() == 3

        page.reload()
        page.wait_for_selector("#screen-exam:not([hidden])")
        assert len(papers_fetched) == 1  # a reloaded page fetches its paper, as before
        assert page.locator(".nav-cell.answered").count() == 3
        for i, text in enumerate(chosen):
            page.locator(".nav-cell").nth(i).click()
            assert page.locator(".option.chosen .opt-text").inner_text() == text
        page.wait_for_function("document.getElementById('timer').textContent.startsWith('剩余')")
        remaining = page.locator("#timer").inner_text()
        assert remaining.startswith(("剩余 1:29:", "剩余 1:30:00")), remaining

        page.get_by_role("button", name="交 卷").click()
        page.wait_for_selector("#screen-review:not([hidden])")
        assert "未答 7 题" in page.locator("#review-summary").inner_text()
        page.get_by_role("button", name="确认交卷").first.click()
        page.locator("#confirm-yes").click()
        page.wait_for_selector("#screen-done:not([hidden])")

        staff = browser.new_page()
        staff.goto(f"{server.url}/staff/login")
        staff.fill("#username", "staff")
        staff.fill("#password", "pw-staff")
        staff.click("button[type=submit]")
        row = staff.locator(f"tr[data-ticket='{number}']")
        # Scoring follows the submission as a job (已交卷 → 已评分) that the worker beside the server runs.
        deadline = time.monotonic() + 60
        while True:
            staff.goto(f"{server.url}/staff/sessions/{seeded.exam_session_id}")
            if row.locator(".score").inner_text().strip() or time.monotonic() > deadline:
                break
            staff.wait_for_timeout(500)
        assert row.locator(".score").inner_text().strip() != ""
        assert "评分" in row.inner_text() or "交卷" in row.inner_text()
        staff.screenshot(path=str(tmp_path / "staff.png"), full_page=True)


def test_a_page_whose_connect_is_not_answered_with_its_join_joins_with_the_event(
    live: tuple[LiveServer, Any]
) -> None:
    """A server that does not answer the join a connect carries (one not yet upgraded): the page asks with the join
    event, as before. The connect's `auth` is taken off on its way to the server, so the server never sees it."""
    server, seeded = live
    number, password, _name = seeded.logins[0]
    stripped: list[str] = []

    def without_auth(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def to_server(message: Any) -> None:
            if isinstance(message, str) and message.startswith("40/exam,{"):
                stripped.append(message)
                message = "40/exam,"
            upstream.send(message)

        ws.on_message(to_server)
        upstream.on_message(lambda message: ws.send(message))

    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.route_web_socket(re.compile(r"/socket\.io/"), without_auth)
        candidate_login(page, server.url, number, password)
        page.get_by_role("button", name="开始考试").click()
        page.wait_for_selector("#screen-exam:not([hidden])")
        page.locator(".option").first.click()
        page.wait_for_selector("#q-saved.ok")
        assert stripped and '"join"' in stripped[0]
    lines = server.log_path.read_text(errors="replace").splitlines()
    assert any("join ok" in line for line in lines) and not any("join_with_connect" in line for line in lines)

"""The candidate's screens of the day in Debian's Chromium at 1024×768, on the full 100-item level-5 paper
(issue 14 item 10): the clock and the buttons in sight for the longest item, every item number visible, a flagged
cell that still says it is answered, the section headings, the review's numbers of unanswered items, the proctor's
notice with its time and a way to close it, an extension that says so, when 交卷 becomes possible, and 已交卷 with
a way out. Screenshots go to SCREENSHOT_DIR when set."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer, chromium_browser, seed_file_database

from exam_server.demo import LEVEL5_THEORY_SECTIONS

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1024, "height": 768}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, shared_bank_csv: Path) -> Iterator[tuple[LiveServer, Any]]:
    tmp = tmp_path_factory.mktemp("screens")
    url, seeded = seed_file_database(tmp, shared_bank_csv, sections=LEVEL5_THEORY_SECTIONS, n_candidates=3)
    server = LiveServer(url, tmp / "instance").start()
    try:
        yield server, seeded
    finally:
        server.stop()


def login(browser: Any, base: str, number: str, password: str) -> Any:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{base}/login")
    page.fill("#ticket", number)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/exam")
    return page


def in_view(page: Any, selector: str) -> bool:
    """The element is wholly inside the viewport, and not scrolled out of it."""
    box = page.locator(selector).bounding_box()
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"]
            and box["y"] + box["height"] <= VIEWPORT["height"])


def proctor_call(staff: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A proctor's action from their logged-in page, as the console sends it."""
    return staff.evaluate(
        """([path, body]) => fetch(path, {method: "POST", credentials: "same-origin",
             headers: {"Content-Type": "application/json",
                       "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content},
             body: JSON.stringify(body)}).then(r => r.json())""", [path, body])


def test_the_screens_of_the_day_at_1024_by_768(live: tuple[LiveServer, Any], tmp_path: Path) -> None:
    server, seeded = live
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    number, password, _name = seeded.logins[0]
    with chromium_browser() as browser:
        page = login(browser, server.url, number, password)
        page.wait_for_selector("#screen-instructions:not([hidden])")
        rules = page.locator(".rules").inner_text()
        # Chinese punctuation, and the all-or-nothing rule of 多选 in the words the candidate reads before starting.
        assert '"' not in rules and "?" not in rules and "“上一题”" in rules
        assert "三、多项选择题：共 20 题，每题 1 分，须选出全部正确答案才得分，多选、少选或错选均不得分。" in rules
        page.screenshot(path=str(shots / "screens-1-instructions.png"))
        page.get_by_role("button", name="开始考试").click()
        page.wait_for_selector("#screen-exam:not([hidden])")

        # Every item number is on the screen, under its section's heading.
        assert page.locator("#nav-grid .nav-cell").count() == 100
        for i in range(100):
            assert in_view(page, f"#nav-grid .nav-cell >> nth={i}"), f"item {i + 1} is not visible"
        assert page.locator(".nav-section-title").all_inner_texts() == ["一、判断题", "二、单项选择题", "三、多项选择题"]
        assert page.locator("#q-section").inner_text().startswith("一、判断题")

        # Answered and flagged: the cell says both.
        page.locator(".option").first.click()
        page.wait_for_selector("#q-saved.ok")
        page.get_by_role("button", name="标记本题").click()
        first = page.locator("#nav-grid .nav-cell").first
        page.wait_for_function("document.querySelector('#nav-grid .nav-cell').classList.contains('flagged')")
        assert first.get_attribute("aria-label") == "第 1 题，已答，已标记"
        answered_fill = first.evaluate("c => getComputedStyle(c).backgroundColor")
        plain_fill = page.locator("#nav-grid .nav-cell").nth(1).evaluate("c => getComputedStyle(c).backgroundColor")
        assert answered_fill != plain_fill

        # The longest 多选 item (five options): the clock and the buttons stay in sight.
        paper = page.evaluate("fetch('/api/attempt').then(r => r.json())")
        multi = [i for i in paper["items"] if i["type"] == "multiple"]
        longest = max(multi, key=lambda i: len(i["stem"]) + sum(len(o["text"]) + 20 for o in i["options"]))
        assert len(longest["options"]) == 5
        page.locator("#nav-grid .nav-cell").nth(longest["number"] - 1).click()
        page.wait_for_function(f"document.getElementById('q-number').textContent.startsWith('第 {longest['number']} 题')")
        assert page.locator("#q-section").inner_text().startswith("三、多项选择题")
        for selector in ("#timer", "#btn-prev", "#btn-next", "#btn-flag", "#btn-review"):
            assert in_view(page, selector), f"{selector} is off the screen"
        assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")  # the page never scrolls
        page.screenshot(path=str(shots / "screens-2-multiple.png"))

        # The proctor's notice and an extension reach the screen, each with its time; a notice can be closed.
        staff = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        staff.goto(f"{server.url}/staff/login")
        staff.fill("#username", "proctor")
        staff.fill("#password", "pw-staff")
        staff.click("button[type=submit]")
        staff.wait_for_url("**/proctor/rooms/*")
        room = staff.url.rsplit("/", 1)[-1].split("?")[0]
        attempt_id = int(page.locator("#app").get_attribute("data-attempt-id"))
        page.wait_for_function("document.getElementById('timer').textContent.startsWith('剩余 1:')")
        before = page.locator("#timer").inner_text()
        assert proctor_call(staff, f"/proctor/rooms/{room}/announce", {"text": "请关闭手机"})["ok"]
        assert proctor_call(staff, f"/proctor/attempts/{attempt_id}/extend", {"minutes": 15, "reason": "停电"})["ok"]
        page.wait_for_selector(".notice.info")
        assert "考试时间已延长 15 分钟" in page.locator(".notice.info .text").inner_text()
        notice = page.locator(".notice", has_text="监考员通知：请关闭手机")
        assert notice.locator(".when").inner_text().count(":") == 1  # HH:MM
        page.wait_for_function(f"document.getElementById('timer').textContent !== {json.dumps(before)}"
                               " && document.getElementById('timer').textContent.startsWith('剩余 1:4')")
        # Two notices take room from the question, never the buttons or the clock.
        for selector in ("#timer", "#btn-prev", "#btn-next", "#btn-review"):
            assert in_view(page, selector), f"{selector} is off the screen under the notices"
        page.screenshot(path=str(shots / "screens-3-notices.png"))
        notice.get_by_role("button", name="关闭这条通知").click()
        assert page.locator(".notice", has_text="请关闭手机").count() == 0

        # The review lists the numbers of the unanswered items; each takes the candidate back to its item.
        page.get_by_role("button", name="交 卷").click()
        page.wait_for_selector("#screen-review:not([hidden])")
        unanswered = page.locator("#review-unanswered .numbers button").all_inner_texts()
        assert unanswered == [str(n) for n in range(2, 101)]
        assert page.locator("#review-flagged .numbers button").all_inner_texts() == ["1"]
        assert in_view(page, "#btn-submit") and in_view(page, "#btn-back")
        page.screenshot(path=str(shots / "screens-4-review.png"))
        page.locator("#review-unanswered .numbers button", has_text="7").first.click()
        page.wait_for_selector("#screen-exam:not([hidden])")
        assert page.locator("#q-number").inner_text().startswith("第 7 题")

        # 交卷 ends with 已交卷 instead of a red 00:00, and a way out.
        assert proctor_call(staff, f"/proctor/attempts/{attempt_id}/force_submit", {"reason": "测试"})["ok"]
        page.wait_for_selector("#screen-done:not([hidden])", timeout=8000)
        page.wait_for_function("document.getElementById('timer').textContent === '已交卷'")
        assert "low" not in (page.locator("#timer").get_attribute("class") or "")
        page.screenshot(path=str(shots / "screens-5-done.png"))
        page.get_by_role("button", name="退 出").click()
        page.wait_for_url(f"{server.url}/login")


def test_when_submitting_becomes_possible(live: tuple[LiveServer, Any], tmp_path: Path) -> None:
    """The page shows the sitting's minimum time from the paper's `submit_opens_at` (added here to the server's
    answer, so the page is tested whether or not the server sends it yet) and keeps 交卷 off until then."""
    server, seeded = live
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    number, password, _name = seeded.logins[1]
    with chromium_browser() as browser:
        page = login(browser, server.url, number, password)
        opens = {"at": None}

        def paper(route: Any) -> None:
            body = route.fetch().json()
            now = dt.datetime.fromisoformat(body["server_now"].replace("Z", "+00:00"))
            opens["at"] = now + dt.timedelta(minutes=20)
            body["submit_opens_at"] = opens["at"].isoformat().replace("+00:00", "Z")
            route.fulfill(json=body)

        page.route("**/api/attempt", paper)
        page.wait_for_selector("#screen-instructions:not([hidden]), #screen-exam:not([hidden])")
        if page.locator("#btn-start").is_visible():
            page.get_by_role("button", name="开始考试").click()
            page.wait_for_selector("#screen-exam:not([hidden])")
            page.reload()  # the start's acknowledgement carried the paper: a reloaded page fetches it (routed above)
        page.wait_for_selector("#screen-exam:not([hidden])")
        page.wait_for_selector("#submit-note:not([hidden])")
        local = opens["at"].astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%H:%M")
        assert page.locator("#submit-note").inner_text() == f"交卷按钮将于 {local} 后可用"
        assert page.locator("#btn-review").is_disabled()
        page.screenshot(path=str(shots / "screens-6-submit-later.png"))


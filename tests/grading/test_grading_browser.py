"""Two graders mark a level-2 written paper in Debian's Chromium with the keyboard, their essay marks
disagree, and the chief grader adjudicates from the monitor; a real server process serves them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer, chromium_browser
from conftest import app_config
from sqlalchemy import select

from item_bank.db import Base, make_engine

pytestmark = pytest.mark.browser

# Per-criterion marks typed by each grader, by task full marks (short answers 4 x 5, essay 15/25/10/10).
GRADER1 = {20: ["4", "4", "4", "4"], 60: ["10", "15", "6", "6"]}  # 16; essay 37
GRADER2 = {20: ["4.5", "4", "4", "4.5"], 60: ["13", "22", "9", "8"]}  # 17; essay 52, beyond 6
CHIEF = ["12", "18", "8", "7"]  # 45


def seed(tmp_path: Path) -> tuple[str, Any]:
    from exam_server import create_app
    from exam_server.extensions import db
    from exam_server.grading.assignment import assign_tasks
    from exam_server.grading.seed import seed_written_sitting, sit_written
    from exam_server.sessions.models import ExamSession

    url = f"sqlite:///{tmp_path / 'grading.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(app_config(url))
    with app.app_context():
        seeded = seed_written_sitting(db.session, n_candidates=1, hash_profile="low")
        sit_written(db.session, seeded.attempt_ids[0])
        exam_session = db.session.get(ExamSession, seeded.exam_session_id)
        assign_tasks(db.session, exam_session, [seeded.staff["grader1"], seeded.staff["grader2"]], "test")
        db.dispose()
    return url, seeded


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Any, str]]:
    url, seeded = seed(tmp_path)
    server = LiveServer(url, tmp_path / "instance").start()
    try:
        yield server, seeded, url
    finally:
        server.stop()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("#username", username)
    page.fill("#password", "pw-staff")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def mark_queue(page: Any, base: str, marks: dict[int, list[str]], tmp_path: Path, who: str) -> None:
    """Open the first task from the queue and mark every task with the keyboard only."""
    page.wait_for_url(f"{base}/grading/")
    assert "待评阅（3）" in page.content()
    shot(page, tmp_path, f"{who}-queue")
    page.click("#start-next")
    for n in range(3):
        page.wait_for_selector("#mark-form")
        inputs = page.locator("input.crit")
        count = inputs.count()
        total_points = sum(float(inputs.nth(i).get_attribute("max")) for i in range(count))
        values = marks[int(total_points)]
        inputs.first.focus()
        for value in values:
            page.keyboard.type(value)
            page.keyboard.press("Enter")  # the next criterion, then the comment
        page.keyboard.type(f"{who} 的评语")
        if n == 0:
            shot(page, tmp_path, f"{who}-task")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#confirm-bar:not([hidden])")
        expected = sum(float(v) for v in values)
        assert page.locator(".confirm-total").inner_text() == f"{expected:g}"
        if n == 0:
            shot(page, tmp_path, f"{who}-confirm")
        page.keyboard.press("Enter")  # 确认提交 has the focus
        page.wait_for_load_state()
    page.wait_for_url(f"{base}/grading/")
    assert "待评阅（0）" in page.content()


def test_two_graders_and_an_adjudication(live: tuple[LiveServer, Any, str], tmp_path: Path) -> None:
    server, _seeded, url = live
    base = server.url
    with chromium_browser() as browser:
        for who, marks in (("grader1", GRADER1), ("grader2", GRADER2)):
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            login(page, base, who)
            mark_queue(page, base, marks, tmp_path, who)
            # The candidate's name is nowhere on the grader's screens.
            assert "陈志强" not in page.content()
            context.close()

        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        login(page, base, "chief")
        page.wait_for_url(f"{base}/grading/monitor")
        page.get_by_role("link", name=seeded_name(page)).first.click()
        page.wait_for_selector("#adjudication")
        assert page.locator("#adjudication tbody tr").count() == 1
        assert page.locator("#graders tbody tr").count() == 2
        shot(page, tmp_path, "chief-monitor")
        page.locator("#adjudication").get_by_role("link", name="仲裁").click()
        page.wait_for_selector("#all-marks")
        content = page.content()
        assert "37" in content and "52" in content and "grader1 的评语" in content
        inputs = page.locator("input.crit")
        inputs.first.focus()
        for value in CHIEF:
            page.keyboard.type(value)
            page.keyboard.press("Enter")
        page.keyboard.type("论述要点二给分过宽，按评分要点复核")
        shot(page, tmp_path, "chief-adjudicate")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#confirm-bar:not([hidden])")
        page.locator("#confirm-submit").click()
        page.wait_for_selector("#graders")
        assert "没有需要仲裁的任务" in page.content()
        assert "已定分 <strong>3</strong>" in page.content()
        shot(page, tmp_path, "chief-monitor-after")
        context.close()

    from exam_server import create_app
    from exam_server.extensions import db
    from exam_server.results.models import Result

    app = create_app(app_config(url))
    with app.app_context():
        (result,) = db.session.scalars(select(Result)).all()
        # Short answers: (16 + 17) / 2 = 16.5 twice; essay adjudicated 45.
        assert result.points == 16.5 + 16.5 + 45 and result.score == 78.0
        db.dispose()


def seeded_name(page: Any) -> str:
    link = page.locator("table.grid tbody a").first
    return link.inner_text()

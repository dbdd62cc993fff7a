"""Exam day under faults: a sitting seeded in this process, served by real `examctl run` processes.

The `exam_day` fixture seeds a database (a SQLite file by default), starts servers on it, and reads
back what the database holds, so each test can break something and check that nothing was lost.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer
from conftest import SMALL_PAPER, app_config
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt, Response
from item_bank.db import Base, make_engine


@dataclass
class ExamDay:
    """A seeded sitting, its server processes, and a read-only look at its database."""

    tmp_path: Path
    bank: Path
    url: str = ""
    seeded: Any = None
    servers: list[LiveServer] = field(default_factory=list)
    _engine: Engine | None = None

    def seed(self, url: str | None = None, n_candidates: int = 2, duration_s: int = 90 * 60) -> ExamDay:
        """A small checked-in sitting on `url` (default: a fresh SQLite file)."""
        from exam_server import create_app
        from exam_server.demo import seed_exam
        from exam_server.extensions import db

        self.url = url or f"sqlite:///{self.tmp_path / 'exam_day.db'}"
        if url is None:
            engine = make_engine(self.url)
            Base.metadata.create_all(engine)
            engine.dispose()
        app = create_app(app_config(self.url))
        with app.app_context():
            self.seeded = seed_exam(db.session, bank_path=self.bank, sections=SMALL_PAPER, n_candidates=n_candidates,
                                    hash_profile="low", staff_password="pw-staff", duration_s=duration_s)
            db.dispose()
        return self

    def serve(self, **env: str) -> LiveServer:
        server = LiveServer(self.url, self.tmp_path / f"instance{len(self.servers)}", **env).start()
        self.servers.append(server)
        return server

    def login(self, index: int) -> tuple[str, str]:
        number, password, _name = self.seeded.logins[index]
        return number, password

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def attempt(self, attempt_id: int) -> Attempt:
        with Session(self.engine) as s:
            attempt = s.get(Attempt, attempt_id)
            assert attempt is not None
            s.expunge(attempt)
            return attempt

    def attempt_ids(self) -> list[int]:
        with Session(self.engine) as s:
            return list(s.scalars(select(Attempt.id).order_by(Attempt.ticket_id)))

    def answers(self, attempt_id: int) -> dict[int, Any]:
        """{item_id: value} of every acknowledged answer the database holds for the attempt."""
        with Session(self.engine) as s:
            rows = s.scalars(select(Response).where(Response.attempt_id == attempt_id, Response.seq > 0))
            return {r.item_version_id: r.value for r in rows}

    def remaining_s(self, attempt_id: int) -> float:
        attempt = self.attempt(attempt_id)
        assert attempt.deadline_at is not None, attempt.status
        return (attempt.deadline_at - dt.datetime.now(dt.UTC)).total_seconds()

    def open_exam(self, browser: Any, index: int, server: LiveServer | None = None,
                  before_login: Callable[[Any], None] | None = None) -> ExamScreen:
        """A new browser context (its own workstation) with candidate `index` logged in on the exam page."""
        base = (server or self.servers[0]).url
        context = browser.new_context(viewport={"width": 1024, "height": 768})
        page = context.new_page()
        if before_login is not None:
            before_login(page)
        number, password = self.login(index)
        page.goto(f"{base}/login")
        page.fill("#ticket", number)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/exam")
        return ExamScreen(page, context, int(page.locator("#app").get_attribute("data-attempt-id") or 0))

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self._engine is not None:
            self._engine.dispose()


@dataclass
class ExamScreen:
    """The candidate's exam page, driven the way a candidate drives it."""

    page: Any
    context: Any
    attempt_id: int
    item_ids: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.page.get_by_role("button", name="开始考试").click()
        self.page.wait_for_selector("#screen-exam:not([hidden])")
        body = self.page.request.get(self.page.url.replace("/exam", "/api/attempt")).json()
        self.item_ids = [item["item_id"] for item in body["items"]]

    def current(self) -> int:
        """The item id of the question on screen."""
        text = self.page.locator("#q-number").inner_text()  # "第 3 题 / 共 10 题"
        return self.item_ids[int(text.split()[1]) - 1]

    def answer(self, option: int = 0, wait_saved: bool = True) -> tuple[int, str]:
        """Click option number `option` of the question on screen; returns (item id, option id)."""
        button = self.page.locator(".option").nth(option)
        value = button.get_attribute("data-option")
        button.click()
        if wait_saved:
            self.page.wait_for_selector("#q-saved.ok")
        return self.current(), str(value)

    def next(self) -> None:
        self.page.get_by_role("button", name="下一题 →").click()

    def go(self, number: int) -> None:
        self.page.locator(".nav-cell").nth(number - 1).click()

    def timer_s(self) -> int:
        """The countdown on screen in seconds ("剩余 MM:SS" or "剩余 H:MM:SS")."""
        text = self.page.locator("#timer").inner_text().replace("剩余", "").strip()
        seconds = 0
        for part in text.split(":"):
            seconds = seconds * 60 + int(part)
        return seconds

    def netbar(self) -> str:
        bar = self.page.locator("#netbar")
        return bar.inner_text() if bar.is_visible() else ""

    def pending(self) -> int:
        """Unacknowledged changes the page holds in localStorage."""
        return int(self.page.evaluate(
            f"(JSON.parse(localStorage.getItem('exam.{self.attempt_id}.pending') || '[]')).length"))


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll `check` until it returns something true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(every)


@pytest.fixture
def exam_day(tmp_path: Path, shared_bank_csv: Path) -> Iterator[ExamDay]:
    day = ExamDay(tmp_path, shared_bank_csv)
    try:
        yield day
    finally:
        day.close()


@pytest.fixture
def poll() -> Callable[..., Any]:
    """`poll(check, timeout, what)`: wait until `check()` is true (for assertions about other processes)."""
    return wait_until

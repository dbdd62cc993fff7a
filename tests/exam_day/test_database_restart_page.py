"""PostgreSQL restarts while a candidate answers in the browser: the answer the server refused as `unavailable`
stays on the page and is sent again, unprompted, once the database is back; a paper refused with a 503 is
fetched again (it is not the exam's end).

The restart is simulated on the test database alone (the server is shared with other runs): its connections
are ended and new ones refused until the test lets them in again.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest
from browser_support import chromium_browser
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from item_bank.db import Base

pytestmark = pytest.mark.browser


def empty_postgres(url: str) -> str:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def refuse_connections(url: str, refuse: bool) -> None:
    """End every connection to the test database and refuse new ones (what a restart does), or let them in."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if refuse else "true"}'))
            if refuse:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_an_answer_refused_while_the_database_restarts_is_saved_when_it_is_back(
    exam_day: Any, postgres_server_url: str, poll: Any
) -> None:
    url = empty_postgres(postgres_server_url)
    exam_day.seed(url=url)
    server = exam_day.serve()
    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0)
        screen.start()
        given: dict[int, str] = {}
        item_id, value = screen.answer(0)
        given[item_id] = value
        screen.next()
        assert exam_day.answers(screen.attempt_id) == given

        refuse_connections(url, True)
        try:
            item_id, value = screen.answer(1, wait_saved=False)
            given[item_id] = value
            poll(lambda: "database out of reach during save" in server.log_path.read_text(errors="replace"), 15,
                 "the server to refuse the save")
            assert screen.pending() == 1  # refused, so still held by the page
        finally:
            refuse_connections(url, False)
        exam_day.engine.dispose()  # its pooled connections were ended too

        # Nothing else happens on the page: it sends the refused answer again by itself.
        poll(lambda: exam_day.answers(screen.attempt_id) == given, 20, "the refused answer saved once the database is back")
        poll(lambda: screen.pending() == 0, 10, "the page to hold nothing unsent")


def test_the_paper_refused_while_the_database_restarts_is_fetched_again(exam_day: Any, poll: Any) -> None:
    exam_day.seed()
    exam_day.serve()
    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0)
        refused: list[str] = []

        def first_refused(route: Any) -> None:
            if not refused:  # the server's answer while its database is away, once
                refused.append(route.request.url)
                route.fulfill(status=503, content_type="application/json",
                              body=json.dumps({"ok": False, "error": "unavailable", "message": "数据库暂时无法访问"}))
            else:
                route.continue_()

        screen.start()  # the start's acknowledgement carries the paper: a reloaded page fetches it
        screen.page.route(lambda url: urlparse(url).path == "/api/attempt", first_refused)
        screen.page.reload()
        screen.page.wait_for_selector("#screen-exam:not([hidden])")  # the paper fetched again, not the exam's end
        assert refused
        poll(lambda: screen.page.locator(".nav-cell").count() > 0, 10, "the paper on screen")
        screen.answer(0)

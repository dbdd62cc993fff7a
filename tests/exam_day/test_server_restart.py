"""The server process is killed (SIGKILL) mid-exam and started again: the candidate carries on with
every answer (those acknowledged before, and those given while it was down) and the right time."""

from __future__ import annotations

from typing import Any

import pytest
from browser_support import chromium_browser

pytestmark = pytest.mark.browser


def test_candidate_continues_after_the_server_is_killed_and_restarted(exam_day: Any, poll: Any) -> None:
    exam_day.seed()
    server = exam_day.serve()
    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0)
        screen.start()
        given: dict[int, str] = {}
        for option in (0, 1):
            item_id, value = screen.answer(option)
            given[item_id] = value
            screen.next()
        assert exam_day.answers(screen.attempt_id) == given

        server.kill()
        poll(lambda: "离线" in screen.netbar() or "中断" in screen.netbar(), 15, "the screen to notice")
        for option in (1, 0):
            item_id, value = screen.answer(option, wait_saved=False)
            given[item_id] = value
            screen.next()
        poll(lambda: "离线，答案已暂存在本机（2 条待上传）" in screen.netbar(), 10, "the offline bar")

        mark = server.log_path.stat().st_size
        server.start()
        poll(lambda: exam_day.answers(screen.attempt_id) == given, 30, "every answer on the restarted server")
        poll(lambda: screen.pending() == 0 and screen.netbar() == "", 15, "the bar to clear")
        # The screen came back once: one join on the restarted server, no second wave, carried by the reconnect's
        # connect (no join event of its own).
        def joins() -> list[str]:
            restarted = server.log_path.read_bytes()[mark:].decode(errors="replace").splitlines()
            return [line for line in restarted
                    if ("join ok" in line or "join_with_connect ok" in line) and f"attempt_id={screen.attempt_id} " in line]

        # The server writes its log line after the answer the screen acts on: wait for the line, then count.
        poll(lambda: joins(), 10, "the rejoin in the server's log")
        assert len(joins()) == 1 and "join_with_connect ok" in joins()[0], joins()

        # The clock is the server's: the screen agrees with the stored deadline to within a second or two.
        assert abs(screen.timer_s() - exam_day.remaining_s(screen.attempt_id)) <= 2

        # A reload after the restart shows what the server holds, not just what the page remembered.
        screen.page.reload()
        screen.page.wait_for_selector("#screen-exam:not([hidden])")
        poll(lambda: screen.page.locator(".nav-cell.answered").count() == len(given), 10, "4 answered cells")
        poll(lambda: screen.page.locator("#timer").inner_text().startswith("剩余"), 10, "the countdown")
        assert abs(screen.timer_s() - exam_day.remaining_s(screen.attempt_id)) <= 2
        item_id, value = screen.answer(0)  # and answering goes on as before
        given[item_id] = value
        assert exam_day.answers(screen.attempt_id) == given

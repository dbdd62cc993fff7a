"""The network drops mid-exam: answers given offline stay in the browser, the screen says so plainly,
and every one of them is on the server once the network returns."""

from __future__ import annotations

from typing import Any

import pytest
from browser_support import chromium_browser

pytestmark = pytest.mark.browser


def test_answers_given_offline_reach_the_server_when_the_network_returns(exam_day: Any, poll: Any, tmp_path: Any) -> None:
    exam_day.seed()
    exam_day.serve()
    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0)
        screen.start()
        given = dict([screen.answer(0)])
        assert "已保存（" in screen.page.locator("#q-saved").inner_text()  # each item shows when it was saved
        screen.next()

        screen.context.set_offline(True)
        for option in (1, 0, 1):
            item_id, value = screen.answer(option, wait_saved=False)
            given[item_id] = value
            assert screen.page.locator("#q-saved").inner_text() == "保存中…"
            screen.next()
        bar = poll(lambda: "离线，答案已暂存在本机" in screen.netbar() and screen.netbar(), 20, "the offline bar")
        assert "3 条待上传" in bar
        screen.page.screenshot(path=str(tmp_path / "offline.png"))
        assert screen.pending() == 3
        assert set(exam_day.answers(screen.attempt_id)) == {next(iter(given))}  # only the online one so far

        screen.context.set_offline(False)
        poll(lambda: exam_day.answers(screen.attempt_id) == given, 20, "the offline answers on the server")
        poll(lambda: screen.pending() == 0 and screen.netbar() == "", 10, "the bar to clear")
        for number in (2, 3, 4):
            screen.go(number)
            assert "已保存（" in screen.page.locator("#q-saved").inner_text()

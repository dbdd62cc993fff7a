"""A workstation behind a proxy that blocks WebSockets and long-polling alike: the socket never opens,
and the exam page falls back to plain HTTP for joining, starting, saving and submitting."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from browser_support import chromium_browser

pytestmark = pytest.mark.browser

# A WebSocket that fails the way a blocking proxy makes it fail: an error and a close, no open.
BLOCKED_WEBSOCKET = """
window.WebSocket = function (url) {
  var ws = this;
  window.blockedSockets = (window.blockedSockets || 0) + 1;
  ws.url = url; ws.readyState = 0;
  setTimeout(function () {
    ws.readyState = 3;
    if (ws.onerror) ws.onerror(new Event("error"));
    if (ws.onclose) ws.onclose({ code: 1006, reason: "blocked", wasClean: false });
  }, 20);
};
window.WebSocket.prototype.send = function () {};
window.WebSocket.prototype.close = function () {};
window.WebSocket.CONNECTING = 0; window.WebSocket.OPEN = 1; window.WebSocket.CLOSING = 2; window.WebSocket.CLOSED = 3;
"""


def test_the_exam_runs_over_http_when_no_socket_can_be_opened(exam_day: Any, poll: Any) -> None:
    exam_day.seed()
    exam_day.serve()

    def block_socketio(page: Any) -> None:
        # The workstation's network refuses WebSockets outright ...
        page.add_init_script(BLOCKED_WEBSOCKET)

        # ... and the long-polling endpoint (the client library under /assets/ still loads).
        page.route(lambda url: urlparse(url).path.startswith("/socket.io/"), lambda route: route.abort())

    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0, before_login=block_socketio)
        screen.start()
        given = {}
        for option in (0, 1, 0):
            item_id, value = screen.answer(option)
            given[item_id] = value
            screen.next()
        assert exam_day.answers(screen.attempt_id) == given
        assert screen.page.evaluate("window.blockedSockets") >= 3, "the page gave up on the socket too early"
        assert screen.netbar() == ""  # online over HTTP: no offline warning
        assert screen.pending() == 0

        screen.page.get_by_role("button", name="交 卷").click()
        screen.page.get_by_role("button", name="确认交卷").first.click()
        screen.page.locator("#confirm-yes").click()
        screen.page.wait_for_selector("#screen-done:not([hidden])")
    done = exam_day.attempt(screen.attempt_id)
    assert done.status in ("submitted", "scored") and done.submit_reason == "candidate"
    assert exam_day.answers(screen.attempt_id) == given


def test_a_socket_that_opens_but_never_answers_falls_back_to_http(exam_day: Any) -> None:
    """A proxy that accepts the WebSocket and then holds it: no error ever comes, only silence."""
    exam_day.seed()
    exam_day.serve()

    def swallow_socketio(page: Any) -> None:
        page.route_web_socket(lambda url: urlparse(url).path.startswith("/socket.io/"), lambda ws: None)
        page.route(lambda url: urlparse(url).path.startswith("/socket.io/"), lambda route: None)

    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0, before_login=swallow_socketio)
        screen.page.get_by_role("button", name="开始考试").wait_for(timeout=15000)
        screen.start()
        item_id, value = screen.answer(1)
        assert exam_day.answers(screen.attempt_id) == {item_id: value}

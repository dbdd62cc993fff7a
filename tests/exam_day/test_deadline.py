"""The server submits at the deadline with nobody's browser open, and even when it was down at the
deadline: the first sweep after the restart submits the attempt as of its deadline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from browser_support import chromium_browser
from sqlalchemy.orm import Session

from exam_server.delivery import clock
from exam_server.delivery.models import Attempt
from item_bank.db import utcnow

pytestmark = pytest.mark.browser

DURATION_S = 10
# Far more than the sweeper could lag on a busy machine: only the first attempt falls due while the server runs.
EXTENSION_S = 30 * 60


def _deadline_passed_while_down(engine: Any, attempt_id: int) -> dt.datetime:
    """Stand for the server being down past the attempt's deadline without waiting for it: the stored deadline
    is moved to a moment already past (what a clock that ran on would have reached). Returns it."""
    with Session(engine) as s:
        attempt = s.get(Attempt, attempt_id)
        attempt.deadline_at = utcnow() - dt.timedelta(seconds=2)
        s.commit()
        return attempt.deadline_at


def test_the_deadline_submits_with_the_browser_closed_and_across_a_restart(exam_day: Any, poll: Any) -> None:
    exam_day.seed(duration_s=DURATION_S)
    server = exam_day.serve()
    given: dict[int, dict[int, str]] = {}
    with chromium_browser() as browser:
        for index in (0, 1):
            screen = exam_day.open_exam(browser, index)
            screen.start()
            item_id, value = screen.answer(0)
            given[screen.attempt_id] = {item_id: value}
            screen.context.close()  # the browser is gone; only the server's clock is left
    first, second = exam_day.attempt_ids()

    # The second candidate gets more time (a reason is required), so their deadline falls while the server is down.
    with Session(exam_day.engine) as s:
        clock.extend(s, s.get(Attempt, second), "proctor", EXTENSION_S, "开考时电脑故障，补足时间")
    deadlines = {a: exam_day.attempt(a).deadline_at for a in (first, second)}

    done = poll(lambda: exam_day.attempt(first).status in ("submitted", "scored") and exam_day.attempt(first),
                DURATION_S + 60, "the sweeper to submit the first attempt")
    assert done.submit_reason == "deadline"
    assert done.submitted_at == deadlines[first]  # as of the deadline, not as of the sweep
    assert exam_day.answers(first) == given[first]  # the acknowledged answer counts
    assert exam_day.attempt(second).status == "in_progress"

    server.kill()
    deadlines[second] = _deadline_passed_while_down(exam_day.engine, second)
    assert exam_day.attempt(second).status == "in_progress"  # nobody could submit it while the server was down
    server.start()
    done = poll(lambda: exam_day.attempt(second).status in ("submitted", "scored") and exam_day.attempt(second),
                60, "the first sweep after the restart")
    assert done.submit_reason == "deadline" and done.submitted_at == deadlines[second]
    assert exam_day.answers(second) == given[second]

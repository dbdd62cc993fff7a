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

# Long enough for two browsers to log in, start and answer on a slow machine (a 10 s sitting ran out first on one);
# the first attempt's clock is then brought to its last seconds (_deadline_in).
DURATION_S = 90 * 60
DUE_IN_S = 3
# Far more than the sweeper could lag on a busy machine: only the first attempt falls due while the server runs.
EXTENSION_S = 30 * 60


def _deadline_in(engine: Any, attempt_id: int, seconds: float) -> dt.datetime:
    """Stand for the attempt's clock running on to `seconds` from its end (or, negative, past it: the server was
    down at its deadline) without waiting for it: the stored deadline is moved there. Returns it."""
    with Session(engine) as s:
        attempt = s.get(Attempt, attempt_id)
        attempt.deadline_at = utcnow() + dt.timedelta(seconds=seconds)
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

    # The second candidate gets more time (a reason is required); their deadline is the one that falls while the
    # server is down.
    with Session(exam_day.engine) as s:
        clock.extend(s, s.get(Attempt, second), "proctor", EXTENSION_S, "开考时电脑故障，补足时间")
    deadlines = {first: _deadline_in(exam_day.engine, first, DUE_IN_S)}

    done = poll(lambda: exam_day.attempt(first).status in ("submitted", "scored") and exam_day.attempt(first),
                DUE_IN_S + 60, "the sweeper to submit the first attempt")
    assert done.submit_reason == "deadline"
    assert done.submitted_at == deadlines[first]  # as of the deadline, not as of the sweep
    assert exam_day.answers(first) == given[first]  # the acknowledged answer counts
    assert exam_day.attempt(second).status == "in_progress"

    server.kill()
    deadlines[second] = _deadline_in(exam_day.engine, second, -2)
    assert exam_day.attempt(second).status == "in_progress"  # nobody could submit it while the server was down
    server.start()
    done = poll(lambda: exam_day.attempt(second).status in ("submitted", "scored") and exam_day.attempt(second),
                60, "the first sweep after the restart")
    assert done.submit_reason == "deadline" and done.submitted_at == deadlines[second]
    assert exam_day.answers(second) == given[second]

"""The exam page as a second copy of its acknowledged answers (issue 18 §4): a server that comes back without the last
acknowledged steps — a standby that took over from a dead primary, its copy a second behind — gets them again from
the page, with their keys, as soon as the page rejoins and reads the server's last_seq."""

from __future__ import annotations

from typing import Any

import pytest
from browser_support import chromium_browser
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.sitenode.results_package import replay_answers

pytestmark = pytest.mark.browser


def forget_after(exam_day: Any, attempt_id: int, seq: int) -> set[str]:
    """Make the database what a lagging standby would hold: the attempt's log cut after its step `seq`, its answers
    and counters as they were then, not submitted. Returns the keys of the steps it no longer holds."""
    with Session(exam_day.engine) as s:
        first_lost = s.scalar(select(func.min(AttemptEvent.id)).where(AttemptEvent.attempt_id == attempt_id,
                                                                      AttemptEvent.seq > seq))
        assert first_lost is not None, "nothing to forget"
        lost = list(s.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id,
                                                         AttemptEvent.id >= first_lost)))
        s.execute(delete(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id, AttemptEvent.id >= first_lost))
        head = s.scalar(select(AttemptEvent.hash).where(AttemptEvent.attempt_id == attempt_id)
                        .order_by(AttemptEvent.id.desc()).limit(1))
        # The answers as the remaining log implies them (the results package's replay), as the standby holds them.
        kept = [{"kind": e.kind, "item": e.item_version_id, "seq": e.seq, "payload": e.payload, "at": e.at}
                for e in s.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id)
                                   .order_by(AttemptEvent.id))]
        s.execute(delete(Response).where(Response.attempt_id == attempt_id))
        answers = replay_answers(kept)
        for item, answer in answers.items():
            s.add(Response(attempt_id=attempt_id, item_version_id=item, value=answer["value"], seq=answer["seq"],
                           saved_at=answer["saved_at"], flagged=answer["flagged"], flag_seq=answer["flag_seq"]))
        s.execute(update(Attempt).where(Attempt.id == attempt_id).values(
            last_seq=seq, last_event_hash=head, answered_count=sum(1 for a in answers.values() if a["value"]),
            status="in_progress", submitted_at=None, submit_reason=""))
        s.commit()
        return {str(e.key) for e in lost if e.key}


def test_a_server_that_lost_acknowledged_saves_gets_them_again_from_the_page(exam_day: Any, poll: Any) -> None:
    exam_day.seed()
    server = exam_day.serve()
    with chromium_browser() as browser:
        screen = exam_day.open_exam(browser, 0)
        screen.start()
        given: dict[int, str] = {}
        for option in (0, 1, 0, 1):
            item_id, value = screen.answer(option)
            given[item_id] = value
            screen.next()
        screen.go(1)
        item_id, value = screen.answer(1)  # the first item changed again: two acknowledged saves of it
        given[item_id] = value
        assert exam_day.answers(screen.attempt_id) == given
        screen.page.get_by_role("button", name="交 卷").click()
        screen.page.get_by_role("button", name="确认交卷").first.click()
        screen.page.locator("#confirm-yes").click()
        screen.page.wait_for_selector("#screen-done:not([hidden])")
        assert exam_day.attempt(screen.attempt_id).status in ("submitted", "scored")

        # The server dies and comes back a standby behind: it lacks every step after the second save, the submit too.
        server.kill()
        lost = forget_after(exam_day, screen.attempt_id, 2)
        assert len(lost) == 4 and exam_day.answers(screen.attempt_id) != given
        assert exam_day.attempt(screen.attempt_id).status == "in_progress"
        server.start()

        # The page rejoins, reads last_seq 2 and sends the three saves again with their keys, then the submit: the
        # answers, the log and the submission are whole again.
        poll(lambda: exam_day.attempt(screen.attempt_id).status in ("submitted", "scored"), 30, "the submit again")
        assert exam_day.answers(screen.attempt_id) == given
        with Session(exam_day.engine) as s:
            keys = set(s.scalars(select(AttemptEvent.key).where(AttemptEvent.attempt_id == screen.attempt_id)))
        assert lost <= keys
        screen.page.wait_for_selector("#screen-done:not([hidden])")
        # A later rejoin (the server holds everything now) sends nothing again.
        with Session(exam_day.engine) as s:
            before = s.scalar(select(func.max(AttemptEvent.id)))
        screen.page.reload()
        screen.page.wait_for_selector("#screen-done:not([hidden])")
        with Session(exam_day.engine) as s:
            kinds = s.scalars(select(AttemptEvent.kind).where(AttemptEvent.id > before)).all()
        assert "save" not in kinds and "submitted" not in kinds, kinds

"""The server's own clock: submits every attempt whose deadline passed, browser or no browser.

It runs in every server process; row locks make a double submit impossible, and after a restart
the first sweep submits what became due while the server was down (as of each deadline). The first sweep,
and one every `SCORING_RECOVERY_S`, also asks for the scoring of any submitted attempt left unscored (a crash
between a submit's commit and its scoring job, a job that failed, a submit that landed as a scoring job ended);
asking when a scoring job is queued or running costs one read, when nothing is unscored two.
"""

from __future__ import annotations

import logging
import time

from flask import Flask

from exam_server.core.background import background_task
from exam_server.core.database import database_unavailable
from exam_server.delivery.clock import announce_submissions, submit_overdue
from exam_server.delivery.models import Attempt
from exam_server.delivery.notify import push_attempt_state
from exam_server.extensions import db, socketio

log = logging.getLogger(__name__)

SCORING_RECOVERY_S = 5.0


def sweep_once(app: Flask, *, recover_scoring: bool = False) -> list[int]:
    """Submit what is overdue now and tell the screens; returns the attempt ids submitted. With
    `recover_scoring`, also ask for the scoring of whatever is submitted and unscored."""
    with app.app_context():
        try:
            done = submit_overdue(db.session)
            for attempt_id in done:
                attempt = db.session.get(Attempt, attempt_id)
                if attempt is not None:
                    push_attempt_state(attempt, "deadline")
            if recover_scoring:
                db.session.commit()
                announce_submissions(db.session, recover=True)
            return done
        finally:
            db.remove()


@background_task
def start_deadline_sweeper(app: Flask) -> None:
    interval = float(app.config["DEADLINE_SWEEP_S"])

    def loop() -> None:
        recovered_at = -SCORING_RECOVERY_S
        while True:
            try:
                recover = time.monotonic() - recovered_at >= SCORING_RECOVERY_S
                if recover:
                    recovered_at = time.monotonic()
                sweep_once(app, recover_scoring=recover)
            except Exception as exc:  # keep the clock alive through a passing database fault
                if database_unavailable(exc):  # a restart: one line a sweep, not a traceback
                    log.warning("deadline sweep: database out of reach: %s", str(exc).splitlines()[0][:200])
                else:
                    log.exception("deadline sweep failed")
            socketio.sleep(interval)

    socketio.start_background_task(loop)

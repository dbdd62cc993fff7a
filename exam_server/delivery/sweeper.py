"""The server's own clock: submits every attempt whose deadline passed, browser or no browser.

It runs in every server process; row locks make a double submit impossible, and after a restart
the first sweep submits what became due while the server was down (as of each deadline).
"""

from __future__ import annotations

import logging

from flask import Flask

from exam_server.core.background import background_task
from exam_server.core.database import database_unavailable
from exam_server.delivery.clock import submit_overdue
from exam_server.delivery.models import Attempt
from exam_server.delivery.notify import push_attempt_state
from exam_server.extensions import db, socketio

log = logging.getLogger(__name__)


def sweep_once(app: Flask) -> list[int]:
    """Submit what is overdue now and tell the screens; returns the attempt ids submitted."""
    with app.app_context():
        try:
            done = submit_overdue(db.session)
            for attempt_id in done:
                attempt = db.session.get(Attempt, attempt_id)
                if attempt is not None:
                    push_attempt_state(attempt, "deadline")
            return done
        finally:
            db.remove()


@background_task
def start_deadline_sweeper(app: Flask) -> None:
    interval = float(app.config["DEADLINE_SWEEP_S"])

    def loop() -> None:
        while True:
            try:
                sweep_once(app)
            except Exception as exc:  # keep the clock alive through a passing database fault
                if database_unavailable(exc):  # a restart: one line a sweep, not a traceback
                    log.warning("deadline sweep: database out of reach: %s", str(exc).splitlines()[0][:200])
                else:
                    log.exception("deadline sweep failed")
            socketio.sleep(interval)

    socketio.start_background_task(loop)

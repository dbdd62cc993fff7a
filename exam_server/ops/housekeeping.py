"""Housekeeping: deleting, now and then, what nobody needs any more (a previewed import's file never confirmed,
login-throttle rows that slow nobody).

The work runs as one job ("ops.housekeeping") in the worker, never on the exam server's event loop: a server process
only queues it every HOUSEKEEPING_INTERVAL_S (a background task that sleeps between one small read and one insert),
and skips that when such a job is still waiting, running or finished within the interval, so several server
processes queue it once. With JOBS_BACKEND=immediate a job would run inside the server, so nothing is queued there;
`examctl housekeeping` runs the same steps by hand or from cron.

Packages above ops register their own steps (`housekeeping_step`), as the bank does for its dry runs; core's
login throttle is purged here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from flask import Flask
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exam_server.core.background import background_task
from exam_server.core.database import database_unavailable
from exam_server.core.security import purge_expired_throttles
from exam_server.extensions import db, socketio
from exam_server.jobs import Job, job_queue, submit_job
from exam_server.jobs.models import QUEUED, RUNNING
from item_bank.db import utcnow
from item_bank.kernel.actors import system_actor

log = logging.getLogger(__name__)

HOUSEKEEPING = "ops.housekeeping"
ACTOR = system_actor("housekeeping")

# A step: (session, app) → how many things it deleted. Each commits its own work.
Step = Callable[[Session, Flask], int]
_STEPS: dict[str, tuple[str, Step]] = {}


def housekeeping_step(name: str, label: str) -> Callable[[Step], Step]:
    """Register a step of housekeeping under `name` (`label`: what it deletes, in Chinese, for the job's report)."""

    def register(step: Step) -> Step:
        _STEPS[name] = (label, step)
        return step

    return register


@housekeeping_step("core.login_throttle", "过期的登录限制记录")
def _login_throttles(session: Session, app: Flask) -> int:
    return purge_expired_throttles(session, int(app.config["LOGIN_QUIET_S"]))


def run_housekeeping(app: Flask, session: Session) -> dict[str, int]:
    """Run every registered step; a failing step is logged and the others still run. Returns name → deleted."""
    done: dict[str, int] = {}
    for name, (_label, step) in sorted(_STEPS.items()):
        try:
            done[name] = step(session, app)
        except Exception:
            session.rollback()
            log.exception("housekeeping step %s failed", name)
    return done


def report_lines(done: dict[str, int]) -> list[str]:
    return [f"{_STEPS[name][0]}：删除 {count} 项" for name, count in done.items() if name in _STEPS]


def queue_housekeeping(app: Flask) -> Job | None:
    """Queue the housekeeping job unless one waits, runs, or ran within the interval; returns the new job."""
    interval = float(app.config["HOUSEKEEPING_INTERVAL_S"])
    with app.app_context():
        try:
            if interval <= 0 or job_queue(app).backend == "immediate":
                return None
            recent = utcnow() - dt.timedelta(seconds=interval * 0.9)  # a loop's own jitter never skips a round
            busy = db.session.scalar(
                select(Job.id).where(Job.kind == HOUSEKEEPING,
                                     or_(Job.status.in_((QUEUED, RUNNING)), Job.created_at >= recent)).limit(1)
            )
            if busy is not None:
                db.session.rollback()
                return None
            return submit_job(HOUSEKEEPING, {}, ACTOR)
        finally:
            db.remove()


@background_task
def start_housekeeping(app: Flask) -> None:
    interval = float(app.config["HOUSEKEEPING_INTERVAL_S"])
    if interval <= 0 or job_queue(app).backend == "immediate":
        return

    def loop() -> None:
        while True:
            socketio.sleep(interval)
            try:
                queue_housekeeping(app)
            except Exception as exc:  # a passing database or queue fault: try again next round
                if database_unavailable(exc):
                    log.warning("housekeeping: database out of reach: %s", str(exc).splitlines()[0][:200])
                else:
                    log.exception("housekeeping could not be queued")

    socketio.start_background_task(loop)


__all__ = ["HOUSEKEEPING", "housekeeping_step", "queue_housekeeping", "report_lines", "run_housekeeping"]

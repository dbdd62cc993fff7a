"""Scoring what candidates submitted, after the submission: the submit step (delivery's 交卷, the deadline sweep,
a proctor's force-submit) commits the submission and nothing else, and the `results.score_submitted` job scores
every submitted attempt not scored yet, many at a time (results/jobs.py).

An attempt is *unscored* while it is submitted and has neither a current result nor a grading task: scoring
either writes its result (and moves it to scored) or, for items people grade, creates their tasks (it stays
submitted until grading completes its result). Release counts unscored attempts as open work
(results/release.py). A reopen (DESIGN.md §4, not built yet) must supersede the attempt's result and tasks, so
that its next submission is unscored again.

Scoring twice is a no-op: a batch locks its attempts (PostgreSQL: FOR UPDATE, skipping those another job
holds; SQLite: the write lock from the first statement) and scores only those still unscored after the lock.
Nothing is lost between the two steps: what a crash left unscored is still unscored, and the server's sweep
asks for this job again now and then (`request_scoring`, delivery/sweeper.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from exam_server.delivery.models import SUBMITTED, Attempt
from exam_server.grading.models import GradingTask
from exam_server.jobs import Job, submit_job
from exam_server.jobs.models import QUEUED, RUNNING
from exam_server.results.models import Result
from exam_server.results.scoring import score_attempts
from exam_server.sessions.models import ExamSession
from item_bank.db import begin_write, utcnow
from item_bank.kernel import system_actor

log = logging.getLogger(__name__)

SCORE_SUBMITTED = "results.score_submitted"
# Scoring after a submit is the server's own step, whoever submitted (the candidate, the clock, a proctor).
SCORING_ACTOR = system_actor("scoring")
# Attempts scored in one transaction: about 0.5 ms each, so a batch holds SQLite's write lock for a few tens of
# milliseconds (the exam server's submits wait for it).
BATCH = 50
# A scoring job queued or started longer ago than this is taken as lost (its queue emptied, its worker hung):
# another is asked for.
JOB_STALE = dt.timedelta(minutes=5)
# After a request found (or queued) a scoring job that has not ended, submits within this many seconds ask nothing:
# that job goes on until nothing is unscored, and a room's 2,000 submits each asking cost two reads and a commit
# apiece in the burst. What lands as the job ends is the sweep's (its request always asks, every 5 s).
ASK_AGAIN_S = 1.0
_ASKED = "results.scoring_asked"
# Scoring gives way to a room's submit storm: the job waits until no attempt was submitted for QUIET_S (at most
# QUIET_WAIT_S in all), and after each batch leaves SQLite's write lock free for as long as it held it. Scoring
# alongside the storm had the submits wait for the worker's write lock, which a niced job process, short of CPU
# while the server is busy, held for long stretches (2,000 submits took 32-39 s; scored 0.0 s after the last).
QUIET_S = 1.0
QUIET_WAIT_S = 30.0


def unscored() -> ColumnElement[bool]:
    """The condition of an unscored attempt: submitted, with no current result and no grading task."""
    has_result = exists().where(Result.attempt_id == Attempt.id, Result.superseded.is_(False))
    has_task = exists().where(GradingTask.attempt_id == Attempt.id, GradingTask.superseded.is_(False))
    return and_(Attempt.status == SUBMITTED, ~has_result, ~has_task)


def unscored_ids(session: Session, limit: int | None = None, skip: Iterable[int] = ()) -> list[int]:
    """Ids of unscored attempts, oldest first (without `skip`)."""
    query = select(Attempt.id).where(unscored()).order_by(Attempt.id)
    skipped = list(skip)
    if skipped:
        query = query.where(Attempt.id.not_in(skipped))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


@dataclass
class SubmittedReport:
    """What a run scored: results written, attempts waiting for people (tasks created), and attempts it could
    not score (left unscored for the next run, with why)."""

    scored: int = 0
    awaiting_grading: int = 0
    tasks_created: int = 0
    failed: dict[int, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"已评分 {self.scored} 份，待人工评阅 {self.awaiting_grading} 份（新建阅卷任务 {self.tasks_created} 个）"]
        if self.failed:
            out.append(f"未能评分 {len(self.failed)} 份，稍后重试：" + "；".join(
                f"作答记录 {a}：{why}" for a, why in list(self.failed.items())[:10]))
        return out


def _lock_unscored(session: Session, ids: Sequence[int]) -> list[Any]:
    """Of `ids`, the attempts still unscored once locked by this transaction (id, sitting, form, candidate)."""
    locked = list(session.scalars(
        select(Attempt.id).where(Attempt.id.in_(list(ids))).with_for_update(skip_locked=True)
    ))
    if not locked:
        return []
    # Read again after the lock (a new statement sees what a job that held it committed meanwhile).
    return list(session.execute(
        select(Attempt.id, Attempt.session_id, Attempt.form_id, Attempt.candidate_id)
        .where(Attempt.id.in_(locked), unscored()).order_by(Attempt.id)
    ).all())


def wait_for_quiet(
    session: Session, *, quiet_s: float = QUIET_S, most_s: float = QUIET_WAIT_S,
    sleep: Callable[[float], None] = time.sleep, now: Callable[[], dt.datetime] = utcnow,
) -> float:
    """Wait until no attempt has been submitted for `quiet_s` seconds, or `most_s` in all; returns the seconds
    waited. Reads only (no lock held while waiting)."""
    waited = 0.0
    while waited < most_s:
        newest = session.scalar(select(func.max(Attempt.submitted_at)).where(Attempt.status == SUBMITTED))
        session.commit()
        since = (now() - newest).total_seconds() if newest is not None else quiet_s
        if since >= quiet_s:
            break
        pause = min(quiet_s - since, most_s - waited)
        sleep(pause)
        waited += pause
    return waited


def score_submitted(
    session: Session, actor: str = SCORING_ACTOR, *, batch: int = BATCH,
    progress: Callable[[int], None] | None = None, quiet_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> SubmittedReport:
    """Score every unscored attempt, `batch` at a time, each sitting's share of a batch in its own transaction;
    goes on until none is left (attempts submitted meanwhile included). A sitting that cannot be scored (its
    form's plan refused, a database fault) is rolled back and left unscored for the next run. Commits.

    With `quiet_s` (the worker's job) it first waits for the submits to pause (`wait_for_quiet`), and after each
    write leaves the write lock free for as long as the write held it."""
    report = SubmittedReport()
    if quiet_s > 0:
        wait_for_quiet(session, quiet_s=quiet_s, sleep=sleep)
    while True:
        done_before = report.scored + report.awaiting_grading + len(report.failed)
        session.commit()
        ids = unscored_ids(session, batch, skip=report.failed)
        session.commit()  # no snapshot kept: the lock below starts the next transaction
        if not ids:
            return report
        by_sitting: dict[int, list[int]] = defaultdict(list)
        for attempt_id, sitting_id in session.execute(
            select(Attempt.id, Attempt.session_id).where(Attempt.id.in_(ids))
        ).all():
            by_sitting[sitting_id].append(attempt_id)
        session.commit()
        for sitting_id, sitting_ids in by_sitting.items():
            held = time.monotonic()
            try:
                begin_write(session)
                rows = _lock_unscored(session, sitting_ids)
                if rows:
                    exam_session = session.get(ExamSession, sitting_id)
                    assert exam_session is not None
                    scored = score_attempts(session, exam_session, rows, actor)
                    report.scored += len(scored.scored)
                    report.awaiting_grading += scored.awaiting_grading
                    report.tasks_created += scored.tasks_created
                session.commit()
            except Exception as exc:
                session.rollback()
                log.exception("scoring submitted attempts of sitting %s failed", sitting_id)
                for attempt_id in sitting_ids:
                    report.failed[attempt_id] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if quiet_s > 0:
                sleep(time.monotonic() - held)  # the submits' turn for the write lock
            if progress is not None:
                progress(report.scored + report.awaiting_grading)
        if report.scored + report.awaiting_grading + len(report.failed) == done_before:
            return report  # every one was locked or scored by another job meanwhile: that job goes on


def request_scoring(session: Session, actor: str = SCORING_ACTOR, *, always: bool = False) -> Job | None:
    """Ask the worker to score what is unscored, unless nothing is or a scoring job will see it.

    Called after a submission committed and by the server's sweep (every few seconds, with `always`). A queued
    job reads what was committed before it starts, and a running one goes on until nothing is unscored, so a room
    submitting at once makes one job or two, not one each; within ASK_AGAIN_S of finding such a job a submit does
    not even look. A submit that lands just as a running job ends is picked up by the sweep's next request.
    """
    asked: dict[str, float] = current_app.extensions.setdefault(_ASKED, {})
    where = str(session.get_bind().url)
    if not always and time.monotonic() - asked.get(where, -ASK_AGAIN_S) < ASK_AGAIN_S:
        return None
    queued = session.scalar(
        select(Job.id).where(Job.kind == SCORE_SUBMITTED, Job.status.in_((QUEUED, RUNNING)),
                             Job.created_at >= utcnow() - JOB_STALE).limit(1)
    )
    if queued is not None:
        asked[where] = time.monotonic()
    wanted = queued is None and bool(unscored_ids(session, 1))
    session.commit()
    if not wanted:
        return None
    job = submit_job(SCORE_SUBMITTED, {}, actor)
    if job.status in (QUEUED, RUNNING):  # not run at once (JOBS_BACKEND=immediate): it is the one to wait for
        asked[where] = time.monotonic()
    return job

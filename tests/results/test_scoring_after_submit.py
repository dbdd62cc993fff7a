"""Submit as a durable, cheap step (issue 17): the submit commits the submission and nothing else; scoring
follows as a job that scores every submitted, unscored attempt, once (results/submitted.py)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from conftest import Sitting
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import exam_server.pipeline as pipeline
import exam_server.results.submitted as submitted
from exam_server.delivery import steps
from exam_server.delivery.models import Attempt
from exam_server.delivery.sweeper import sweep_once
from exam_server.extensions import db
from exam_server.jobs import Job, submit_job
from exam_server.jobs.models import QUEUED
from exam_server.proctoring.queries import seat_map
from exam_server.results.models import Result
from exam_server.results.release import release_blockers
from exam_server.results.submitted import SCORE_SUBMITTED, SubmittedReport, score_submitted, unscored_ids
from exam_server.sessions.models import ExamSession, Room
from item_bank.models import ItemVersion

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _submit(session: Session, sitting: Sitting, index: int) -> int:
    """Candidate `index` starts, answers every item with its key and submits (交卷); returns the attempt id."""
    attempt_id = sitting.attempt_ids[index]
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    candidate_id, order = attempt.candidate_id, list(attempt.item_order)
    steps.start(session, attempt_id, "test", "ws")
    for seq, version_id in enumerate(order, start=1):
        key = session.get(ItemVersion, version_id).key
        assert steps.save_answer(session, candidate_id, attempt_id, version_id, key, seq, f"k{seq}", "ws")["ok"]
    ack = steps.submit(session, candidate_id, attempt_id, "submit-key", "ws")
    # The acknowledgement says what was committed: the submission (scoring is not part of it).
    assert ack == {"ok": True, "status": "submitted"}
    return attempt_id


def _results(session: Session, attempt_id: int) -> list[tuple[float, bool]]:
    session.expire_all()
    return [tuple(row) for row in session.execute(
        select(Result.score, Result.superseded).where(Result.attempt_id == attempt_id).order_by(Result.id)
    )]


def _seat_label(session: Session, attempt_id: int) -> str:
    attempt = session.get(Attempt, attempt_id)
    room = session.get(Room, attempt.ticket.seat.room_id)
    seats = seat_map(session, room, session.get(ExamSession, attempt.session_id))["seats"]
    return next(s["label"] for s in seats if s["attempt_id"] == attempt_id)


def _crash_after_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server dies between the submit's commit and asking for its scoring: nothing asks."""
    monkeypatch.setattr(pipeline, "request_scoring", lambda *_a, **_k: None)


@SQLITE_ONLY
def test_a_crash_between_submit_and_scoring_loses_nothing(
    app: Flask, session: Session, sitting: Sitting, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_after_commit(monkeypatch)
    attempt_id = _submit(session, sitting, 0)
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    candidate_id, session_id = attempt.candidate_id, attempt.session_id
    assert attempt.status == "submitted" and _results(session, attempt_id) == []
    assert unscored_ids(session) == [attempt_id]
    assert _seat_label(session, attempt_id) == "已交卷"
    # Release counts it as open work.
    blockers = release_blockers(session, session.get(ExamSession, session_id), [candidate_id])
    assert [state for _number, _name, state in blockers.attempts] == ["已交卷未评分"]
    session.commit()

    monkeypatch.undo()
    sweep_once(app, recover_scoring=True)  # the restarted server's first sweep

    session.expire_all()
    assert session.get(Attempt, attempt_id).status == "scored"
    assert _results(session, attempt_id) == [(100.0, False)]
    assert unscored_ids(session) == []
    assert _seat_label(session, attempt_id) == "已评分"
    assert not release_blockers(session, session.get(ExamSession, session_id), [candidate_id])
    page = _staff_results_page(app, sitting, session_id)
    assert "已评分" in page


def _staff_results_page(app: Flask, sitting: Sitting, session_id: int) -> str:
    staff = app.test_client()
    sitting.staff_login(staff)
    return staff.get(f"/results/sessions/{session_id}").get_data(as_text=True)


def test_scoring_twice_or_by_two_jobs_at_once_writes_one_result(
    app: Flask, session: Session, sitting: Sitting, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_after_commit(monkeypatch)
    attempt_ids = [_submit(session, sitting, i) for i in range(2)]
    session.commit()

    reports: list[SubmittedReport] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def job() -> None:
        try:
            with app.app_context():
                gate.wait(10)
                reports.append(score_submitted(db.session, "test"))
                db.remove()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    runners = [threading.Thread(target=job) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(60)
    assert not errors, errors
    assert sorted(r.scored for r in reports) in ([0, 2], [1, 1])
    assert all(not r.failed for r in reports)
    for attempt_id in attempt_ids:
        assert _results(session, attempt_id) == [(100.0, False)]

    # The job once more (as the sweep asks for it): nothing is unscored, nothing is written.
    monkeypatch.undo()
    again = submit_job(SCORE_SUBMITTED, {}, "test")
    assert again.status == "done" and again.result["scored"] == 0
    for attempt_id in attempt_ids:
        assert _results(session, attempt_id) == [(100.0, False)]
        assert session.get(Attempt, attempt_id).status == "scored"


@SQLITE_ONLY
def test_a_room_submitting_at_once_makes_one_scoring_job_not_one_each(
    app: Flask, session: Session, sitting: Sitting
) -> None:
    # A scoring job is queued and not started yet (the worker is busy): it will read what is submitted now.
    waiting = Job(kind=SCORE_SUBMITTED, params={}, created_by="test", status=QUEUED)
    session.add(waiting)
    session.commit()
    attempt_ids = [_submit(session, sitting, i) for i in range(3)]
    jobs = session.scalar(select(func.count()).select_from(Job).where(Job.kind == SCORE_SUBMITTED))
    assert jobs == 1
    assert sorted(unscored_ids(session)) == sorted(attempt_ids)

    # That job runs (here: the next one asked for; the queued row stands for it): all three in one.
    waiting.status = "cancelled"
    session.commit()
    sweep_once(app, recover_scoring=True)
    session.expire_all()
    done: Any = session.scalars(select(Job).where(Job.kind == SCORE_SUBMITTED, Job.status == "done")).all()
    assert len(done) == 1 and done[0].result["scored"] == 3
    assert unscored_ids(session) == []


@SQLITE_ONLY
def test_submits_while_a_scoring_job_is_queued_do_not_ask_again(
    app: Flask, session: Session, sitting: Sitting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room's submits each asked for scoring (two reads and a commit in every submit of the storm): after one
    found the queued job, the next ones within ASK_AGAIN_S look at nothing; the sweep always looks."""
    session.add(Job(kind=SCORE_SUBMITTED, params={}, created_by="test", status=QUEUED))
    session.commit()
    job_reads: list[Any] = []  # every statement request_scoring builds (it finds the queued job: one each look)
    monkeypatch.setattr(submitted, "select", lambda *a: job_reads.append(a) or select(*a))
    for index in range(3):
        _submit(session, sitting, index)
    assert len(job_reads) == 1  # the first submit's look at the job table; the other two asked nothing
    clock = [submitted.time.monotonic() + submitted.ASK_AGAIN_S]
    monkeypatch.setattr(submitted.time, "monotonic", lambda: clock[0])
    submitted.request_scoring(session)  # a second later: it looks again
    assert len(job_reads) == 2
    submitted.request_scoring(session, always=True)  # the sweep's request looks whatever the last one found
    assert len(job_reads) == 3


@SQLITE_ONLY
def test_the_scoring_job_waits_for_the_submits_to_pause_and_leaves_the_lock_free_between_batches(
    session: Session, sitting: Sitting, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_after_commit(monkeypatch)
    attempt_ids = [_submit(session, sitting, i) for i in range(2)]
    session.commit()
    newest = max(session.get(Attempt, a).submitted_at for a in attempt_ids)
    clock = [newest + dt.timedelta(seconds=0.25)]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += dt.timedelta(seconds=seconds)

    # 0.25 s after the last submit: it waits the 0.75 s left of a quiet second, reading only.
    assert submitted.wait_for_quiet(session, quiet_s=1.0, sleep=sleep, now=lambda: clock[0]) == pytest.approx(0.75)
    assert sleeps == [pytest.approx(0.75)]
    # A storm that does not pause: it waits `most_s` in all, then scores anyway.
    sleeps.clear()
    clock[0] = newest
    assert submitted.wait_for_quiet(session, quiet_s=10.0, most_s=2.0, sleep=sleeps.append,
                                    now=lambda: clock[0]) == pytest.approx(2.0)

    sleeps.clear()
    report = score_submitted(session, "test", batch=1, quiet_s=0.001, sleep=sleeps.append)
    assert report.scored == 2 and unscored_ids(session) == []
    # A pause after each batch's write (each sitting's share of a batch is one transaction), as long as it held.
    assert len(sleeps) >= 2 and all(0 <= s < 5 for s in sleeps)

"""Housekeeping (ops/housekeeping.py): one job, queued now and then by the server and run in the worker, deletes the
files of previewed imports nobody confirmed within BANK_DRY_RUN_KEEP_H and the login-throttle rows that slow nobody
any more; what is still in use stays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import LoginThrottle
from exam_server.jobs import Job, job_queue, submit_job
from exam_server.jobs.models import DONE, RUNNING
from exam_server.ops.housekeeping import HOUSEKEEPING, queue_housekeeping
from item_bank.db import utcnow

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _kept(jobs_dir: Path, job_id: int) -> Path:
    folder = jobs_dir / str(job_id)
    folder.mkdir(parents=True)
    path = folder / "pending-upload.csv"
    path.write_text("id,stem\n", encoding="utf-8")
    return path


def test_housekeeping_job_deletes_abandoned_dry_runs_and_expired_throttles(app: Flask, session: Session) -> None:
    now = utcnow()
    keep_h = app.config["BANK_DRY_RUN_KEEP_H"]
    jobs_dir = job_queue(app).jobs_dir
    old = Job(kind="bank.import", params={"dry_run": True}, created_by="user:m", status=DONE,
              finished_at=now - dt.timedelta(hours=keep_h + 1))
    fresh = Job(kind="bank.tree_import", params={"dry_run": True}, created_by="user:m", status=DONE,
                finished_at=now - dt.timedelta(hours=keep_h - 1))
    running = Job(kind="bank.import", params={"dry_run": True}, created_by="user:m", status=RUNNING)
    old_tree = Job(kind="bank.tree_import", params={"dry_run": True}, created_by="user:m", status=DONE,
                   finished_at=now - dt.timedelta(hours=keep_h * 3))
    session.add_all([old, fresh, running, old_tree])
    session.flush()
    files = {job.id: _kept(jobs_dir, job.id) for job in (old, fresh, running, old_tree)}
    orphan = _kept(jobs_dir, 10_000)  # its job row is gone (a database restored without it)
    quiet = app.config["LOGIN_QUIET_S"]
    session.add_all([
        LoginThrottle(key="address:expired", failures=4, window_start=now - dt.timedelta(seconds=quiet * 3),
                      last_failure_at=now - dt.timedelta(seconds=quiet * 2), blocked_until=None),
        LoginThrottle(key="account:user:waited-out", failures=9, window_start=now - dt.timedelta(seconds=quiet * 3),
                      last_failure_at=now - dt.timedelta(seconds=quiet + 5),
                      blocked_until=now - dt.timedelta(seconds=quiet)),
        LoginThrottle(key="account:user:still-blocked", failures=30, window_start=now - dt.timedelta(seconds=quiet * 3),
                      last_failure_at=now - dt.timedelta(seconds=quiet + 5),
                      blocked_until=now + dt.timedelta(seconds=60)),
        LoginThrottle(key="address:recent", failures=2, window_start=now - dt.timedelta(seconds=30),
                      last_failure_at=now - dt.timedelta(seconds=10), blocked_until=None),
    ])
    session.commit()

    job = submit_job(HOUSEKEEPING, {}, "system:test")
    assert job.status == DONE, job.error
    assert job.result["deleted"] == {"bank.dry_runs": 3, "core.login_throttle": 2}, job.result
    assert not files[old.id].exists() and not files[old_tree.id].exists() and not orphan.exists()
    assert files[fresh.id].exists() and files[running.id].exists()
    left = set(session.scalars(select(LoginThrottle.key).execution_options(populate_existing=True)))
    assert left == {"account:user:still-blocked", "address:recent"}

    # The same steps by hand (or from cron): nothing more to delete.
    run = app.test_cli_runner().invoke(args=["housekeeping"])
    assert run.exit_code == 0 and "删除 0 项" in run.output, run.output


def test_the_server_queues_housekeeping_once_per_interval(app: Flask, session: Session,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    queue = job_queue(app)
    # Immediate mode would run the job inside the server: nothing is queued there.
    assert queue_housekeeping(app) is None
    queued: list[int] = []
    monkeypatch.setattr(queue, "backend", "sqlite")
    monkeypatch.setattr(queue, "enqueue", queued.append)  # the worker would take it; here it only waits
    first = queue_housekeeping(app)
    assert first is not None and queued == [first.id]
    assert queue_housekeeping(app) is None  # one waits already (another server process's, or this one's)
    done = session.get(Job, first.id)
    done.status, done.finished_at = DONE, utcnow()
    session.commit()
    assert queue_housekeeping(app) is None  # ran within the interval
    done.created_at = utcnow() - dt.timedelta(seconds=app.config["HOUSEKEEPING_INTERVAL_S"])
    session.commit()
    again = queue_housekeeping(app)
    assert again is not None and queued == [first.id, again.id]
    assert session.scalar(select(Job.created_by).where(Job.id == again.id)) == "system:housekeeping"

"""The one function that moves a job between states, and the moves the worker and the submitter make.

A move is a guarded UPDATE (`WHERE status = <current>`), so a worker starting a job and a person cancelling it at
the same moment cannot both win, on SQLite as on PostgreSQL; each move that happens gets its audit row. Every
function here runs in the caller's transaction.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from exam_server.jobs.models import CANCELLED, DONE, FAILED, LIFECYCLE, QUEUED, RUNNING, Job
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel import system_actor

WORKER = system_actor("jobs")


def move(
    session: Session, job_id: int, action: str, current: str, target: str, actor: str, **values: Any
) -> bool:
    """Move job `job_id` from `current` to `target` if it is still in `current`; False if someone moved it first."""
    LIFECYCLE.check(action, current, target)
    moved = session.execute(
        update(Job).where(Job.id == job_id, Job.status == current).values(status=target, **values)
    ).rowcount
    if moved:
        audit(session, actor, f"job.{action}", "job", job_id, before={"status": current}, after={"status": target})
    return bool(moved)


def start(session: Session, job_id: int) -> bool:
    """The worker takes a queued job; False if it was cancelled (or taken) meanwhile."""
    return move(session, job_id, "start", QUEUED, RUNNING, WORKER, started_at=utcnow(), progress=0.0,
                progress_message="开始处理")


def finish(session: Session, job_id: int, summary: dict[str, Any], result_file: str | None) -> bool:
    return move(session, job_id, "finish", RUNNING, DONE, WORKER, result=json_safe(summary), result_file=result_file,
                progress=1.0, progress_message="已完成", finished_at=utcnow())


def fail(session: Session, job_id: int, message: str, details: dict[str, Any] | None = None,
         current: str = RUNNING) -> bool:
    """Store why the job failed (a Chinese sentence the submitter reads) and what a screen may point at."""
    return move(session, job_id, "fail", current, FAILED, WORKER, error=message,
                result={"details": json_safe(details)} if details else None, finished_at=utcnow())


def cancelled_by_handler(session: Session, job_id: int) -> bool:
    """The handler stopped at a cancellation request; its work was rolled back."""
    return move(session, job_id, "cancel", RUNNING, CANCELLED, WORKER, progress_message="已取消", finished_at=utcnow())


def cancel_queued(session: Session, job_id: int, actor: str) -> bool:
    return move(session, job_id, "cancel", QUEUED, CANCELLED, actor, progress_message="已取消", finished_at=utcnow())


def request_cancel(session: Session, job_id: int, actor: str) -> bool:
    """Ask a running job's handler to stop at its next check; the worker then marks it cancelled."""
    asked = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.cancel_requested_at.is_(None))
        .values(cancel_requested_at=utcnow(), progress_message="正在取消…")
    ).rowcount
    if asked:
        audit(session, actor, "job.cancel_request", "job", job_id, before={"status": RUNNING},
              after={"status": RUNNING, "cancel_requested": True})
    return bool(asked)


def json_safe(value: Any) -> Any:
    """`value` as plain JSON (dates and paths as text), so a handler's summary never fails the job's last write."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))

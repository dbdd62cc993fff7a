"""Reading jobs: who may see which, the recent ones, and the shape a page or a script reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exam_server.jobs.models import Job
from exam_server.jobs.registry import kinds_visible_to, label_of, may_see_kind


def may_read(job: Job, actor: str, has_role: Callable[..., bool]) -> bool:
    """The job's submitter, or staff holding a role its kind names (admin holds all)."""
    return job.created_by == actor or may_see_kind(job.kind, has_role)


def visible_jobs(session: Session, actor: str, has_role: Callable[..., bool], limit: int = 50) -> list[Job]:
    """The newest jobs `actor` may read."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if not has_role("admin"):
        query = query.where(or_(Job.created_by == actor, Job.kind.in_(kinds_visible_to(has_role))))
    return list(session.scalars(query))


def recent_jobs(session: Session, limit: int = 20, status: str | None = None) -> list[Job]:
    """The newest jobs of everyone (the operator's `examctl jobs`)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    return list(session.scalars(query))


def job_summary(job: Job) -> dict[str, Any]:
    """What the job page polls: state, progress and outcome, all in Chinese where a person reads it."""
    return {
        "id": job.id,
        "kind": job.kind,
        "label": label_of(job.kind),
        "status": job.status,
        "status_label": job.status_label,
        "finished": job.finished,
        "progress": round(job.progress or 0.0, 4),
        "message": job.progress_message,
        "error": job.error,
        "result": job.result,
        "result_file": job.result_file,
        "cancel_requested": job.cancel_requested_at is not None,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }

"""The verbs of jobs: submit one, cancel one, keep an upload for one. Each is one transaction."""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from exam_server.extensions import db
from exam_server.jobs import files, lifecycle
from exam_server.jobs.models import CANCELLED, LIFECYCLE, QUEUED, RUNNING, Job, JobRefused
from exam_server.jobs.queue import job_queue
from exam_server.jobs.registry import handler_for
from item_bank.audit import audit
from item_bank.db import transaction

log = logging.getLogger(__name__)


class JobQueueUnavailable(JobRefused):
    default_code = "job_queue_unavailable"
    default_status = 503


def submit_job(kind: str, params: dict[str, Any], actor: str) -> Job:
    """Store a queued job of `kind` with `params` (JSON; an upload's token as params["upload"]) for `actor`
    (`user:wang`, `cli:ops`) and hand it to the worker. Returns the job; with JOBS_BACKEND=immediate it has
    already run. Raises JobRefused for an unknown kind, JobQueueUnavailable if the queue cannot take it."""
    if handler_for(kind) is None:
        raise JobRefused(f"未知的任务类型 {kind}。", code="unknown_job_kind", status=400)
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"job params must be plain JSON: {exc}") from exc
    queue = job_queue()
    if params.get("upload") is not None:
        files.upload_path(queue.upload_dir, params["upload"])  # a token stash_upload gave, still there
    session = db.session
    session.commit()  # end the caller's reads: on SQLite a write on a snapshot older than the worker's fails
    with transaction(session):
        job = Job(kind=kind, params=params, created_by=actor, status=QUEUED, progress=0.0,
                  progress_message="排队等候处理")
        session.add(job)
        session.flush()
        audit(session, actor, "job.submit", "job", job.id, after={"status": QUEUED, "kind": kind})
    try:
        queue.enqueue(job.id)
    except Exception as exc:
        log.exception("job %s could not be queued on %s", job.id, queue.describe())
        with transaction(session):
            lifecycle.fail(session, job.id, "任务队列暂不可用，任务未能开始，请稍后重新提交。", current=QUEUED)
        files.discard_uploads(queue.upload_dir, params.get("upload"))
        raise JobQueueUnavailable("任务队列暂不可用，任务未能开始，请稍后重新提交。") from exc
    return _reread(job.id)  # immediate mode: it has run meanwhile


def cancel_job(job_id: int, actor: str) -> Job:
    """Cancel a queued job at once, or ask a running one to stop at its handler's next check.
    Refuses (409, naming the state) a job that has already ended, and (404) one that does not exist."""
    session = db.session
    session.commit()  # the moves below start their transaction with a write (see submit_job)
    with transaction(session):
        done = lifecycle.cancel_queued(session, job_id, actor) or lifecycle.request_cancel(session, job_id, actor)
    job = _reread(job_id)
    if not done and not (job.status == RUNNING and job.cancel_requested_at is not None):
        LIFECYCLE.check("cancel", job.status, CANCELLED)  # refuses with the state's name
    if job.status != RUNNING:
        files.discard_uploads(job_queue().upload_dir, job.params.get("upload"))
    return job


def stash_upload(stream: IO[bytes], suffix: str = "") -> str:
    """Keep an uploaded file for a job; pass the returned token as params["upload"]. The worker deletes it
    after the job, whatever its outcome."""
    return files.stash_upload(job_queue().upload_dir, stream, suffix)


def _reread(job_id: int) -> Job:
    """The job as stored now, leaving no transaction open: the caller's next write starts from a fresh snapshot."""
    session = db.session
    job = session.get(Job, job_id, populate_existing=True)
    session.commit()
    if job is None:
        raise JobRefused(f"任务 {job_id} 不存在。", code="job_not_found", status=404)
    return job

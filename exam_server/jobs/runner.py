"""What the worker does with one job: take it, run its handler in an app context, store the outcome, tidy up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from exam_server.core import logs
from exam_server.extensions import db
from exam_server.jobs import files, lifecycle
from exam_server.jobs.context import JobCancelled, JobContext
from exam_server.jobs.models import RUNNING, Job, JobRefused
from exam_server.jobs.registry import handler_for
from item_bank.db import transaction
from item_bank.kernel import DomainError

log = logging.getLogger(__name__)


def generic_failure(job_id: int) -> str:
    return f"任务执行出错（任务编号 {job_id}），请稍后重试；如再次出错请联系管理员。"


def run_job(app: Flask, job_id: int) -> None:
    """Run job `job_id` to its end: done, failed or cancelled. Never raises for what the handler does."""
    with app.app_context(), logs.bound(job_id=job_id):  # every line the job logs names it
        session = db.session
        with transaction(session):
            taken = lifecycle.start(session, job_id)
        job = session.get(Job, job_id)
        if job is None:
            log.warning("job %s is not in the database; dropped", job_id)
            return
        params = dict(job.params)
        session.commit()  # the handler starts outside any transaction (see JobContext.progress)
        try:
            if taken:
                _run_taken(app, job_id, job.kind, params, job.created_by)
        finally:
            # A job another worker is running keeps its upload (a message delivered twice must not cut it off).
            if taken or job.status != RUNNING:
                files.discard_uploads(_upload_dir(app), params.get("upload"))


def _run_taken(app: Flask, job_id: int, kind: str, params: dict[str, Any], actor: str) -> None:
    session = db.session
    try:
        handler = handler_for(kind)
        if handler is None:
            raise JobRefused(f"未知的任务类型 {kind}，工作进程没有它的处理程序。")
        assert db.engine is not None
        ctx = JobContext(
            job_id=job_id,
            kind=kind,
            actor=actor,
            session=session,
            engine=db.engine,
            workdir=files.workdir(files.jobs_dir(app.config, app.instance_path), job_id),
            upload_dir=_upload_dir(app),
            upload=params.get("upload"),
        )
        try:
            summary = handler(ctx, **params)
            # What the handler left uncommitted is kept; committed apart from "done" because on SQLite the
            # handler's reads may be older than another process's last write, and "done" must not fail on that.
            session.commit()
        finally:
            ctx.close()
        with transaction(session):
            lifecycle.finish(session, job_id, summary or {}, ctx.result_file)
    except JobCancelled:
        session.rollback()
        with transaction(session):
            lifecycle.cancelled_by_handler(session, job_id)
    except DomainError as exc:
        session.rollback()
        with transaction(session):
            lifecycle.fail(session, job_id, exc.message, _details(exc))
    except Exception:
        log.exception("job %s (%s) failed", job_id, kind)
        session.rollback()
        with transaction(session):
            lifecycle.fail(session, job_id, generic_failure(job_id))


def mark_interrupted(app: Flask, job_id: int) -> None:
    """The worker stopped before the job ended (a second stop signal): say so instead of leaving it running."""
    with app.app_context():
        session = db.session
        with transaction(session):
            lifecycle.fail(session, job_id, "工作进程在任务完成前停止，任务未完成，请重新提交。", current=RUNNING)


def _upload_dir(app: Flask) -> Path:
    return files.upload_dir(app.config, app.instance_path)


def _details(exc: DomainError) -> dict[str, Any] | None:
    details = dict(exc.details)
    # A domain error listing problems (an import's bad rows) keeps them for the job's page.
    problems = getattr(exc, "problems", None)
    if problems:
        details["problems"] = [str(problem) for problem in problems]
    return details or None

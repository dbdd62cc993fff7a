"""Background jobs: long work (imports, exports, assembly, analysis, releases, PDF batches) run by a worker
process (`examctl worker`) instead of the exam server, with progress on screen (/jobs/<id>) and in the CLI.

A domain registers a handler and submits jobs of its kind::

    from exam_server.jobs import JobContext, job_handler, stash_upload, submit_job

    @job_handler("bank.import", label="导入试题", roles=("bank_manager",))
    def import_bank(ctx: JobContext, *, upload: str, status: str) -> dict:
        ctx.progress(0.1, "正在读取文件")
        report = import_items(ctx.session, ctx.upload, actor=ctx.actor, status=status)
        return {"imported": report.imported}

    job = submit_job("bank.import", {"upload": stash_upload(file.stream, ".xlsx"), "status": "draft"},
                     actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))

The handler's module is listed in `exam_server.app.JOB_MODULES`, so the worker knows it. This package sits just
above `core` and `extensions` and imports no domain: domains import it.
"""

from exam_server.jobs.context import JobCancelled, JobContext
from exam_server.jobs.models import Job, JobRefused
from exam_server.jobs.operations import JobQueueUnavailable, cancel_job, stash_upload, submit_job
from exam_server.jobs.queue import job_queue
from exam_server.jobs.registry import job_handler

__all__ = [
    "Job",
    "JobCancelled",
    "JobContext",
    "JobQueueUnavailable",
    "JobRefused",
    "cancel_job",
    "job_handler",
    "job_queue",
    "stash_upload",
    "submit_job",
]

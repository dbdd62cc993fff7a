"""Job handlers for the tests of exam_server/jobs: imported by the tests and by the worker processes they start
(`python -c "import jobs_handlers; ..." worker`), so both know the same kinds."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from exam_server.jobs import JobContext, job_handler
from exam_server.jobs.models import Job
from item_bank.audit import audit
from item_bank.kernel import DomainError

ROLES = ("bank_manager",)


def progress_as_seen_outside(ctx: JobContext) -> str:
    """The job's progress message read through a connection of its own, as the job page reads it."""
    engine = create_engine(ctx.session.get_bind().url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(select(Job.progress_message).where(Job.id == ctx.job_id)).scalar())
    finally:
        engine.dispose()


@job_handler("test.report", label="测试：生成报告", roles=ROLES)
def report(ctx: JobContext, *, rows: int = 3, upload: str | None = None) -> dict[str, Any]:
    """Reports progress, reads its upload if given, writes a result file and leaves an audit row uncommitted."""
    ctx.progress(0.5, "正在统计")
    seen = progress_as_seen_outside(ctx)
    text = ctx.upload.read_text(encoding="utf-8") if ctx.upload else ""
    audit(ctx.session, ctx.actor, "test.report", "job", ctx.job_id)  # left uncommitted: kept when it returns
    ctx.output("统计报告.csv").write_text("行,值\n" + "".join(f"{i},{i * i}\n" for i in range(rows)), encoding="utf-8")
    return {"rows": rows, "seen_progress": seen, "upload_text": text}


@job_handler("test.refuse", label="测试：拒绝", roles=ROLES)
def refuse(ctx: JobContext, *, message: str, upload: str | None = None) -> dict[str, Any]:
    """Writes, then refuses with a domain error: the write must not survive."""
    audit(ctx.session, ctx.actor, "test.refuse.partial", "job", ctx.job_id)
    ctx.session.flush()
    raise DomainError(message, row=7)


@job_handler("test.crash", label="测试：程序出错", roles=ROLES)
def crash(ctx: JobContext) -> dict[str, Any]:
    raise RuntimeError("/srv/secret/path is not for users")


@job_handler("test.read_folder", label="测试：读取目录", roles=ROLES)
def read_folder(ctx: JobContext, *, folder: str) -> dict[str, Any]:
    """Declares a folder it reads (the export that archived its own output, issue 13 finding 1)."""
    ctx.reads(folder)
    return {"files": sorted(p.name for p in Path(folder).iterdir())}


@job_handler("test.hold", label="测试：等待放行", roles=ROLES)
def hold(ctx: JobContext, *, release: str, limit_s: float = 60.0) -> dict[str, Any]:
    """Runs until the file `release` exists (or someone cancels it): a job that is running for as long as a test
    needs, without the test guessing durations."""
    ctx.progress(0.1, "等待放行")
    deadline = time.monotonic() + limit_s
    while not Path(release).exists():
        ctx.check_cancelled()
        if time.monotonic() > deadline:
            raise DomainError("等待放行超时")
        time.sleep(0.02)
    ctx.output("放行.txt").write_text("已放行", encoding="utf-8")
    return {"released": True}


@job_handler("test.read_then_write", label="测试：先读后写", roles=ROLES)
def read_then_write(ctx: JobContext) -> dict[str, Any]:
    """Reports progress between a read and a write of one transaction, then looks at what the page would show."""
    ctx.session.scalars(select(Job.id)).all()
    ctx.progress(0.5, "读取完成")
    during = progress_as_seen_outside(ctx)
    audit(ctx.session, ctx.actor, "test.read_then_write", "job", ctx.job_id)
    ctx.session.commit()
    return {"during": during, "after_commit": progress_as_seen_outside(ctx)}


@job_handler("test.whereabouts", label="测试：在哪个进程执行", roles=ROLES)
def whereabouts(ctx: JobContext) -> dict[str, Any]:
    """Where the worker ran it: its process, that process's parent and its niceness."""
    return {"pid": os.getpid(), "parent": os.getppid(), "niceness": os.nice(0)}

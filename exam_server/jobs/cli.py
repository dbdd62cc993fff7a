"""`examctl worker` runs the jobs; `examctl jobs` and `examctl job ID` show how they are doing."""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
import time

import click
from flask import current_app

from exam_server.extensions import db
from exam_server.jobs.models import CANCELLED, DONE, FAILED, STATUS_LABELS, Job
from exam_server.jobs.operations import cancel_job
from exam_server.jobs.queries import recent_jobs
from exam_server.jobs.queue import job_queue
from exam_server.jobs.registry import label_of
from exam_server.jobs.spawn import die_with_parent
from item_bank.importing import undo_interrupted_imports
from item_bank.kernel import DomainError, cli_actor

# Threads of one worker share one GIL: a job holding SQLite's write lock (a chunk of an import, storing forms) that
# gives the GIL up for a database call waited up to the default 5 ms to get it back from a busy sibling (an export,
# a duplicate search) at every call, and candidates' saves waited behind that lock. Jobs therefore run in processes
# of their own by default; with threads, a shorter interval hands the GIL back sooner.
SWITCH_INTERVAL_S = 0.0005
# The exam server and the worker share the machine's cores; the candidates' saves come first, so the worker asks
# the kernel for a lower priority (a larger niceness; any user may lower their own priority, never raise it).
DEFAULT_NICENESS = 10
EXIT_FAILED = 1
EXIT_CANCELLED = 2
EXIT_TIMEOUT = 3


@click.command("worker")
@click.option("--workers", "-w", default=2, show_default=True, type=click.IntRange(1, 64), help="同时执行的任务数（线程）")
@click.option("--shutdown-timeout", type=float, default=None,
              help="收到 SIGTERM 后等待进行中任务的最长秒数（默认一直等到完成）")
@click.option("--threads", "use_threads", is_flag=True,
              help="任务在本进程的线程中执行（默认每个任务在独立的子进程中执行）")
@click.option("--nice", "niceness", default=DEFAULT_NICENESS, show_default=True, type=click.IntRange(0, 19),
              help="降低本进程的调度优先级，让考试服务优先使用 CPU（0 为不降低）")
def worker_command(workers: int, shutdown_timeout: float | None, use_threads: bool, niceness: int) -> None:
    """运行后台任务进程（导入、导出、组卷、分析等），与考试服务分开运行；SIGTERM 时等进行中的任务完成再退出。"""
    queue = job_queue()
    if queue.backend == "immediate":
        raise click.ClickException("JOBS_BACKEND=immediate 时任务在提交处直接执行，不需要工作进程。")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
    undo_interrupted_imports(db.session)  # an import a killed worker left half-written (item_bank.importing)
    worker_type = "thread" if use_threads else "process"
    if worker_type == "process":
        # A forked child must not use the parent's pooled connections (both would talk on one socket).
        db.dispose()
        os.register_at_fork(after_in_child=_in_job_process)
    unit = "个线程" if use_threads else "个子进程"
    click.echo(f"任务工作进程已启动：{workers} {unit}，{queue.describe()}，文件目录 {queue.jobs_dir}")
    queue.consumer(workers, shutdown_timeout, worker_type).run()
    click.echo("任务工作进程已停止。")


@click.command("jobs")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--status", type=click.Choice(list(STATUS_LABELS)), default=None, help="只看某一状态")
def jobs_command(limit: int, status: str | None) -> None:
    """列出最近的后台任务：编号、类型、状态、进度、说明。"""
    jobs = recent_jobs(db.session, limit, status)
    if not jobs:
        click.echo("暂无任务。")
        return
    for job in jobs:
        click.echo(_line(job))


@click.command("job")
@click.argument("job_id", type=int)
@click.option("--wait", is_flag=True, help="等待任务结束，并随时显示进度")
@click.option("--timeout", type=float, default=None, help="--wait 最多等待的秒数")
@click.option("--cancel", is_flag=True, help="取消任务（进行中的任务在当前步骤结束后停止）")
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def job_command(job_id: int, wait: bool, timeout: float | None, cancel: bool, actor: str | None) -> None:
    """查看一个后台任务；--wait 等待其结束。退出码：0 完成或未结束，1 失败，2 已取消，3 等待超时。"""
    session = db.session
    job = session.get(Job, job_id)
    if job is None:
        raise click.ClickException(f"任务 {job_id} 不存在")
    if cancel:
        try:
            job = cancel_job(job_id, actor or cli_actor(_login_name()))
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(_line(job))
    deadline = None if timeout is None else time.monotonic() + timeout
    last = _line(job)
    while wait and not job.finished:
        if deadline is not None and time.monotonic() > deadline:
            click.echo(f"等待超时：任务 {job_id} 仍为「{job.status_label}」", err=True)
            sys.exit(EXIT_TIMEOUT)
        time.sleep(0.5)
        session.rollback()  # end the read transaction: on SQLite it would keep showing the same snapshot
        session.refresh(job)
        if _line(job) != last:
            last = _line(job)
            click.echo(last)
    _outcome(job)


def _line(job: Job) -> str:
    message = job.error if job.status == FAILED else job.progress_message
    return f"#{job.id}  {label_of(job.kind)}({job.kind})  {job.status_label}  {round((job.progress or 0) * 100):3d}%  {message}"


def _outcome(job: Job) -> None:
    if job.status == DONE:
        if job.result:
            click.echo(f"结果：{job.result}")
        if job.result_file:
            path = job_queue(current_app).jobs_dir / str(job.id) / job.result_file
            click.echo(f"结果文件：{path}")
    elif job.status == FAILED:
        sys.exit(EXIT_FAILED)
    elif job.status == CANCELLED:
        sys.exit(EXIT_CANCELLED)


def _in_job_process() -> None:
    if db.engine is not None:
        db.engine.dispose(close=False)
    # SIGKILL: a job process inherits the worker's graceful SIGTERM handler, which only the worker acts on.
    die_with_parent(signal.SIGKILL)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


commands: list[click.Command] = [worker_command, jobs_command, job_command]

"""The job queue: a huey instance chosen by JOBS_BACKEND, carrying job ids from the web process to the worker.

- `sqlite` (default): a queue file (JOBS_QUEUE_DB, default instance/jobs/queue.db) for a test site's one server;
- `redis`: JOBS_REDIS_URL (default: SOCKETIO_MESSAGE_QUEUE when that is Redis) for a centre's several processes;
- `immediate`: tests; a submitted job runs at once, in-process, before `submit_job` returns.

Only the job's id travels: the job itself (kind, parameters, progress, outcome) lives in the `job` table, so the
queue can be emptied or switched without losing what a screen shows.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from exam_server.jobs import files
from exam_server.jobs.runner import mark_interrupted, run_job

if TYPE_CHECKING:
    from huey import Huey
    from huey.api import Task, TaskWrapper
    from huey.consumer import Consumer

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "redis", "immediate")
EXTENSION = "jobs"
TASK_NAME = "exam_server.jobs.run"
# An idle worker asks the SQLite queue at most this long after a job was submitted (huey's default, 10 s,
# would leave a person watching a progress bar at 0 for that long).
MAX_POLL_DELAY_S = 1.0


class JobsMisconfigured(ValueError):
    """A JOBS_* setting that names no usable queue."""


class JobQueue:
    """The app's queue (`app.extensions["jobs"]`); huey is built on first use, not at start-up."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.backend: str = app.config["JOBS_BACKEND"]
        if self.backend not in BACKENDS:
            raise JobsMisconfigured(f"JOBS_BACKEND 应为 {' / '.join(BACKENDS)} 之一，而不是 {self.backend!r}")
        if self.backend == "redis":
            self.redis_url()  # refuse a missing URL at start-up, not at the first submission
        self._huey: Huey | None = None
        self._task: TaskWrapper | None = None
        self._lock = threading.Lock()

    # ----- where things are

    @property
    def jobs_dir(self) -> Path:
        return files.jobs_dir(self.app.config, self.app.instance_path)

    @property
    def upload_dir(self) -> Path:
        return files.upload_dir(self.app.config, self.app.instance_path)

    def queue_db(self) -> Path:
        return Path(self.app.config.get("JOBS_QUEUE_DB") or Path(self.app.instance_path) / "jobs" / "queue.db")

    def redis_url(self) -> str:
        cfg = self.app.config
        message_queue = cfg.get("SOCKETIO_MESSAGE_QUEUE") or ""
        url = cfg.get("JOBS_REDIS_URL") or (message_queue if message_queue.startswith(("redis://", "rediss://")) else "")
        if not url:
            raise JobsMisconfigured("JOBS_BACKEND=redis 需要 JOBS_REDIS_URL（或 Redis 的 SOCKETIO_MESSAGE_QUEUE）")
        return url

    def describe(self) -> str:
        """Where the queue is, in words for an operator (a Redis password is not shown)."""
        if self.backend == "sqlite":
            return f"SQLite 队列 {self.queue_db()}"
        if self.backend == "redis":
            url = self.redis_url()
            return f"Redis 队列 {url.split('@')[-1] if '@' in url else url}（{self.app.config['JOBS_QUEUE_NAME']}）"
        return "即时执行（测试用，不经队列）"

    # ----- huey

    @property
    def huey(self) -> Huey:
        return self._built()[0]

    def _built(self) -> tuple[Huey, TaskWrapper]:
        with self._lock:
            if self._huey is None or self._task is None:
                self._huey, self._task = self._build()
            return self._huey, self._task

    def _build(self) -> tuple[Huey, TaskWrapper]:
        # huey (with the Redis client it imports) costs some 0.2 s to import, and a restarted exam server
        # must listen again within seconds; only a submission or the worker needs it.
        from huey import MemoryHuey, RedisHuey, SqliteHuey
        from huey.signals import SIGNAL_INTERRUPTED

        ensure_folders_apart(self.app)
        name = self.app.config["JOBS_QUEUE_NAME"]
        options: dict[str, Any] = {"results": False}  # outcomes live in the job table, not in the queue
        huey: Huey
        if self.backend == "immediate":
            huey = MemoryHuey(name, immediate=True, **options)
        elif self.backend == "sqlite":
            path = self.queue_db()
            path.parent.mkdir(parents=True, exist_ok=True)
            huey = SqliteHuey(name, filename=str(path), **options)
        else:
            huey = RedisHuey(name, url=self.redis_url(), **options)
        task = huey.task(name=TASK_NAME)(self._run)

        @huey.signal(SIGNAL_INTERRUPTED)
        def _interrupted(_signal: str, task: Task, *_args: Any, **_kwargs: Any) -> None:
            mark_interrupted(self.app, *task.args)

        return huey, task

    def _run(self, job_id: int) -> None:
        if self.backend != "immediate":
            run_job(self.app, job_id)
            return
        # In-process, the submitter's thread already has an app context whose session a nested one would
        # share and close; a thread of its own gives the job its own session, as in the worker.
        runner = threading.Thread(target=run_job, args=(self.app, job_id), name=f"job-{job_id}")
        runner.start()
        runner.join()

    def enqueue(self, job_id: int) -> None:
        """Hand job `job_id` to the worker (or, immediate, run it now)."""
        task = self._built()[1]
        task(job_id)  # calling a huey task enqueues it

    def pending(self) -> int:
        """How many job ids wait in the queue (0 in immediate mode)."""
        return 0 if self.backend == "immediate" else int(self.huey.pending_count())

    def consumer(self, workers: int, shutdown_timeout: float | None = None, worker_type: str = "process") -> Consumer:
        """huey's consumer with `workers` processes (or threads); SIGTERM (a service manager's stop) lets running
        jobs finish."""
        return self.huey.create_consumer(
            workers=workers,
            worker_type=worker_type,
            periodic=False,
            max_delay=MAX_POLL_DELAY_S,
            graceful_signal="TERM",
            shutdown_timeout=shutdown_timeout,
        )


def ensure_folders_apart(app: Flask) -> None:
    """Refuse a configuration whose jobs folder and upload folder nest (a job reads its upload)."""
    files.ensure_apart(files.jobs_dir(app.config, app.instance_path), files.upload_dir(app.config, app.instance_path))


def init_app(app: Flask) -> JobQueue:
    queue = JobQueue(app)
    app.extensions[EXTENSION] = queue
    return queue


def job_queue(app: Flask | None = None) -> JobQueue:
    """The queue of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]  # type: ignore[no-any-return]

"""A real worker process (`examctl worker`) takes the jobs the web process submits, through the SQLite queue of a
test site and the Redis queue of a centre, reports their ends, stops for cancellation and finishes what it
runs when told to stop."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import need_service
from flask import Flask
from jobs_support import Worker, build_app, examctl, file_database, fresh_job, wait_until

from exam_server.extensions import db
from exam_server.jobs import cancel_job, job_queue, stash_upload, submit_job
from exam_server.jobs.models import CANCELLED, DONE, RUNNING, Job

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ACTOR = "user:alice"

pytestmark = pytest.mark.slow


def _redis_problem() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # any failure to reach it means "not here"
        return f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def queue_config(request: pytest.FixtureRequest, jobs_config: dict[str, str]) -> dict[str, str]:
    if request.param == "redis":
        problem = _redis_problem()
        if problem:
            need_service(problem)
        return {**jobs_config, "JOBS_BACKEND": "redis", "JOBS_REDIS_URL": REDIS_URL}
    return {**jobs_config, "JOBS_BACKEND": "sqlite"}


@pytest.fixture
def web_app(tmp_path: Path, queue_config: dict[str, str]) -> Iterator[Flask]:
    """The submitting side, on a SQLite file database the worker opens too."""
    app = build_app(file_database(tmp_path), tmp_path, **queue_config)
    with app.app_context():
        yield app
        job_queue().huey.flush()  # a shared Redis keeps nothing of this test
    db.dispose()


def ended(job_id: int) -> Job | None:
    job = fresh_job(job_id)
    return job if job.finished else None


def test_a_worker_process_runs_what_the_web_submits(web_app: Flask, tmp_path: Path) -> None:
    worker = Worker(web_app, tmp_path / "worker.log")
    try:
        _runs_a_job_with_its_upload_and_file(web_app)
        child = _runs_jobs_in_children_that_yield_the_cpu(worker)
        _reports_a_refusal_to_the_cli(web_app)
        _stops_a_running_job_on_request(tmp_path)
        _finishes_the_running_job_on_sigterm(worker, tmp_path)
        # The worker has exited: its job processes went with it, none left to take jobs unseen.
        wait_until(lambda: not _alive(child), what=f"job process {child} to end with the worker")
    except BaseException:
        print(worker.output())
        raise
    finally:
        worker.stop()


def _runs_a_job_with_its_upload_and_file(app: Flask) -> None:
    token = stash_upload(io.BytesIO("上传的内容".encode()), ".txt")
    job = submit_job("test.report", {"rows": 3, "upload": token}, ACTOR)

    done: Any = wait_until(lambda: ended(job.id), what=f"job {job.id} to end")
    assert done.status == DONE, done.error
    assert done.result["upload_text"] == "上传的内容" and done.result["seen_progress"] == "正在统计"
    assert (job_queue().jobs_dir / str(job.id) / "统计报告.csv").is_file()
    assert not (job_queue().upload_dir / token).exists()

    shown = examctl(app, "job", str(job.id), "--wait", "--timeout", "60")
    assert shown.returncode == 0, shown.stderr
    assert "已完成" in shown.stdout and "统计报告.csv" in shown.stdout
    listed = examctl(app, "jobs")
    assert listed.returncode == 0 and f"#{job.id}" in listed.stdout and "test.report" in listed.stdout


def _runs_jobs_in_children_that_yield_the_cpu(worker: Worker) -> int:
    """A job runs in a child of the worker (no GIL shared with a sibling job) at a lower priority than the exam
    server's (the worker's default niceness is 10)."""
    job = submit_job("test.whereabouts", {}, ACTOR)
    done: Any = wait_until(lambda: ended(job.id), what=f"job {job.id} to end")
    assert done.status == DONE, done.error
    assert done.result["parent"] == worker.process.pid != done.result["pid"]
    # Niceness stops at 19: a suite already run under `nice` cannot see ten more.
    assert done.result["niceness"] >= min(os.nice(0) + 10, 19)
    return int(done.result["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _reports_a_refusal_to_the_cli(app: Flask) -> None:
    job = submit_job("test.refuse", {"message": "第 2 行：缺少题干"}, ACTOR)
    waited = examctl(app, "job", str(job.id), "--wait", "--timeout", "60")
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert "第 2 行：缺少题干" in waited.stdout


def _stops_a_running_job_on_request(tmp_path: Path) -> None:
    job = submit_job("test.hold", {"release": str(tmp_path / "never")}, ACTOR)
    wait_until(lambda: fresh_job(job.id).status == RUNNING, what="the held job to start")
    cancel_job(job.id, "user:alice")
    stopped: Any = wait_until(lambda: ended(job.id), what="the cancelled job to stop")
    assert stopped.status == CANCELLED


def _finishes_the_running_job_on_sigterm(worker: Worker, tmp_path: Path) -> None:
    release = tmp_path / "release"
    job = submit_job("test.hold", {"release": str(release)}, ACTOR)
    wait_until(lambda: fresh_job(job.id).status == RUNNING, what="the held job to start")

    worker.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "SIGTERM" in worker.output(), what="the worker to take the signal")
    assert worker.process.poll() is None  # still finishing the job
    release.touch()

    assert worker.process.wait(timeout=60) == 0
    assert fresh_job(job.id).status == DONE
    assert "任务工作进程已停止" in worker.output()

"""A job's whole life in one process (JOBS_BACKEND=immediate): progress, a result file, failures, uploads."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from flask import Flask
from jobs_support import build_app, fresh_job
from sqlalchemy import select

from exam_server.extensions import db
from exam_server.jobs import JobRefused, cancel_job, job_queue, stash_upload, submit_job
from exam_server.jobs.files import JobFilesRefused
from exam_server.jobs.models import CANCELLED, DONE, FAILED, QUEUED
from exam_server.jobs.runner import run_job
from item_bank.audit import AuditEvent
from item_bank.kernel import DomainError

ACTOR = "user:alice"


def audit_actions(job_id: int) -> list[str]:
    return list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity == "job", AuditEvent.entity_id == str(job_id))
        .order_by(AuditEvent.id)
    ))


def test_a_handler_reports_progress_and_leaves_a_file(jobs_app: Flask) -> None:
    job = submit_job("test.report", {"rows": 4}, ACTOR)

    assert job.status == DONE, job.error
    assert job.progress == 1.0 and job.progress_message == "已完成"
    # Progress was committed on its own while the handler ran, where the job page reads it.
    assert job.result["seen_progress"] == "正在统计"
    assert job.result["rows"] == 4
    assert job.result_file == "统计报告.csv"
    path = job_queue().jobs_dir / str(job.id) / "统计报告.csv"
    assert path.read_text(encoding="utf-8").splitlines() == ["行,值", "0,0", "1,1", "2,4", "3,9"]
    assert job.created_by == ACTOR and job.started_at and job.finished_at
    # The audit row the handler left uncommitted was kept; each move of the job has its own row.
    assert audit_actions(job.id) == ["job.submit", "job.start", "test.report", "job.finish"]


def test_progress_inside_a_transaction_does_not_break_the_handlers_next_write(jobs_app: Flask) -> None:
    job = submit_job("test.read_then_write", {}, ACTOR)

    assert job.status == DONE, job.error
    if db.engine.dialect.name == "sqlite":
        # Written once the handler's transaction ended: earlier, it would have left the handler's read
        # snapshot behind the database, and the handler's write would have failed.
        assert job.result == {"during": "开始处理", "after_commit": "读取完成"}
    else:
        assert job.result == {"during": "读取完成", "after_commit": "读取完成"}


def test_a_domain_error_fails_the_job_with_its_chinese_message(jobs_app: Flask) -> None:
    job = submit_job("test.refuse", {"message": "第 7 行：缺少正确答案"}, ACTOR)

    assert job.status == FAILED
    assert job.error == "第 7 行：缺少正确答案"
    assert job.result == {"details": {"row": 7}}
    assert job.result_file is None
    # What the handler wrote before refusing was rolled back.
    assert "test.refuse.partial" not in audit_actions(job.id)
    assert audit_actions(job.id)[-1] == "job.fail"


def test_an_unexpected_error_fails_with_a_generic_message_and_a_logged_traceback(
    jobs_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="exam_server.jobs.runner"):
        job = submit_job("test.crash", {}, ACTOR)

    assert job.status == FAILED
    assert job.error.startswith("任务执行出错") and str(job.id) in job.error
    assert "/srv/secret" not in job.error  # the internals stay in the log
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "/srv/secret/path" in str(logged[0].exc_info[1])


def test_a_job_never_writes_inside_a_folder_it_reads(jobs_app: Flask) -> None:
    jobs_dir = job_queue().jobs_dir
    jobs_dir.mkdir(parents=True, exist_ok=True)
    job = submit_job("test.read_folder", {"folder": str(jobs_dir.parent)}, ACTOR)

    assert job.status == FAILED
    assert "重叠" in job.error


def test_uploads_are_deleted_after_the_job_whatever_its_outcome(jobs_app: Flask) -> None:
    uploads = job_queue().upload_dir
    done_token = stash_upload(io.BytesIO("题干,答案\n".encode()), ".csv")
    failed_token = stash_upload(io.BytesIO(b"x"), ".csv")
    assert {p.name for p in uploads.iterdir()} == {done_token, failed_token}

    done = submit_job("test.report", {"upload": done_token}, ACTOR)
    failed = submit_job("test.refuse", {"message": "文件有误", "upload": failed_token}, ACTOR)

    assert done.status == DONE and done.result["upload_text"] == "题干,答案\n"
    assert failed.status == FAILED
    assert list(uploads.iterdir()) == []


def test_a_job_cannot_name_a_server_file_as_its_upload(jobs_app: Flask, tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    for token in (str(precious), "../../precious.txt", "../precious.txt"):
        with pytest.raises(JobFilesRefused):
            submit_job("test.report", {"upload": token}, ACTOR)
    assert precious.read_text() == "keep"


def test_an_unknown_kind_is_refused(jobs_app: Flask) -> None:
    with pytest.raises(JobRefused, match="未知的任务类型"):
        submit_job("no.such.kind", {}, ACTOR)


def test_a_queued_job_cancelled_never_runs_and_loses_its_upload(database_url: str, tmp_path: Path,
                                                                  jobs_config: dict[str, str]) -> None:
    # A SQLite queue with no worker: the job waits.
    app = build_app(database_url, tmp_path, JOBS_BACKEND="sqlite", **jobs_config)
    with app.app_context():
        token = stash_upload(io.BytesIO(b"x"), ".csv")
        job = submit_job("test.report", {"upload": token}, ACTOR)
        assert job.status == QUEUED and job_queue().pending() == 1

        job = cancel_job(job.id, "user:bob")
        assert job.status == CANCELLED
        assert not (job_queue().upload_dir / token).exists()

        run_job(app, job.id)  # the worker takes the message later: nothing happens
        job = fresh_job(job.id)
        assert job.status == CANCELLED and job.started_at is None
        with pytest.raises(DomainError, match="任务状态为「已取消」，不能执行「取消」") as refused:
            cancel_job(job.id, "user:bob")
        assert refused.value.status == 409
        assert audit_actions(job.id) == ["job.submit", "job.cancel"]
        db.dispose()

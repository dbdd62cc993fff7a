"""Background jobs of results: scoring a whole sitting and releasing its results run in the worker, not on
the exam server (`examctl score-session` / `release-results` still run in their own process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from exam_server.jobs import JobContext, job_handler, job_queue
from exam_server.results.errors import ResultsError
from exam_server.results.release import release_results
from exam_server.results.score_report import reports_for_sitting, score_reports_pdf
from exam_server.results.scoring import score_session
from exam_server.results.submitted import QUIET_S, SCORE_SUBMITTED, score_submitted
from exam_server.sessions.models import ExamSession

SCORE = "results.score"
RELEASE = "results.release"
REPORTS = "results.score_reports"
ROLES = ("centre_staff",)
# The job page shows at most this many of the report's lines (one per changed attempt after the first).
MAX_LINES = 30
T = TypeVar("T")


def _exam_session(ctx: JobContext, session_id: int) -> ExamSession:
    exam_session = ctx.session.get(ExamSession, session_id)
    if exam_session is None:
        raise ResultsError(f"考试场次 {session_id} 不存在。", status=404)
    return exam_session


def _without_lock_first(ctx: JobContext, work: Callable[[], T]) -> T:
    """Run read-then-write `work` (it commits or rolls back itself) holding no lock while it reads and computes.

    On SQLite the write lock is one for the whole database: held through a sitting's scoring it would refuse
    every save of the candidates still sitting elsewhere on this server. If a write committed meanwhile (the
    work's snapshot is then stale and SQLite refuses its first write at once), it runs once more holding the
    lock from its start, which cannot fail that way.
    """
    ctx.session.commit()
    try:
        return work()
    except OperationalError as exc:
        if ctx.session.get_bind().dialect.name != "sqlite" or "locked" not in str(exc.orig):
            raise
        ctx.session.rollback()
    ctx.progress(0.5, "评分期间有其他写入，正在持锁重新评分")
    ctx.begin_write()
    return work()


def _back_to(session_id: int) -> dict[str, Any]:
    return {"endpoint": "results.session_results", "values": {"session_id": session_id}, "text": "返回本场成绩"}


@job_handler(SCORE, label="评定整场成绩", roles=ROLES)
def score_sitting(ctx: JobContext, *, session_id: int) -> dict[str, Any]:
    """Score every submitted attempt of the sitting (results/scoring.py, written in bulk by results/bulk.py)."""
    ctx.progress(0.05, "正在读取交卷记录和评分方案")
    report = _without_lock_first(ctx, lambda: score_session(ctx.session, _exam_session(ctx, session_id), ctx.actor))
    ctx.progress(1.0, "评分完成")
    return {
        "lines": report.lines()[:MAX_LINES],
        "written": report.written,
        "unchanged": report.unchanged,
        "link": _back_to(session_id),
    }


@job_handler(SCORE_SUBMITTED, label="评定已交卷的作答", roles=ROLES)
def score_submitted_job(ctx: JobContext) -> dict[str, Any]:
    """Score every submitted attempt not scored yet (asked for after each submit and by the server's sweep;
    results/submitted.py). What it cannot score stays unscored and is tried again by the next one."""
    ctx.progress(0.05, "正在读取已交卷、未评分的作答")
    # In the worker it gives way to a submit storm; run at once in-process (tests) there is nobody to give way to.
    quiet_s = 0.0 if job_queue().backend == "immediate" else QUIET_S
    report = score_submitted(ctx.session, ctx.actor, progress=lambda n: ctx.progress(0.5, f"已处理 {n} 份作答"),
                             quiet_s=quiet_s)
    ctx.progress(1.0, "评分完成")
    return {"lines": report.lines(), "scored": report.scored, "awaiting_grading": report.awaiting_grading,
            "failed": len(report.failed)}


@job_handler(RELEASE, label="发布整场成绩", roles=ROLES)
def release_sitting(
    ctx: JobContext, *, session_id: int, tickets: list[str] | None = None, reason: str = ""
) -> dict[str, Any]:
    """Release the current provisional results of the sitting (or of the named tickets, with a reason); refused
    while an attempt is open or a grading task unfinished (results/release.py)."""
    _exam_session(ctx, session_id)
    ctx.progress(0.1, "正在检查未结束的作答和阅卷任务")
    ctx.begin_write()
    report = release_results(ctx.session, session_id, ctx.actor, tickets=tickets, reason=reason)
    ctx.progress(1.0, "发布完成")
    return {
        "lines": report.lines()[:MAX_LINES],
        "released": report.released,
        "candidates": len(report.candidates),
        "link": _back_to(session_id),
    }


@job_handler(REPORTS, label="打印成绩单", roles=ROLES)
def score_reports_job(ctx: JobContext, *, session_id: int) -> dict[str, Any]:
    """The sitting's released score reports (成绩单) as one PDF, a page per candidate and level."""
    code = _exam_session(ctx, session_id).code
    ctx.progress(0.05, "正在读取已发布的等级结果")
    reports = reports_for_sitting(ctx.session, session_id)
    ctx.session.commit()  # reading done: hold no snapshot while drawing
    ctx.progress(0.2, f"正在生成 {len(reports)} 份成绩单")
    ctx.output(f"成绩单_{code}.pdf").write_bytes(score_reports_pdf(reports))
    ctx.progress(1.0, "完成")
    return {"lines": [f"考试场次 {code}：{len(reports)} 份成绩单。"], "count": len(reports)}

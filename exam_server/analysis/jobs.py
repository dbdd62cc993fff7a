"""Background jobs of item analysis: the Excel export and storing a sitting's estimates compute the analysis
(classical tables and an IRT fit over every response) in the worker, not on the exam server."""

from __future__ import annotations

from typing import Any

from flask import current_app

from exam_server.analysis.compute import SessionAnalysis, analyse_session
from exam_server.analysis.errors import AnalysisError
from exam_server.analysis.export import export_excel
from exam_server.analysis.operations import accept_estimates
from exam_server.analysis.settings import AnalysisSettings
from exam_server.jobs import JobContext, job_handler
from exam_server.sessions.models import ExamSession

EXPORT = "analysis.export"
ACCEPT = "analysis.accept"
# Centre staff read the analysis (and so may export it); only bank managers store estimates in the bank.
VIEW_ROLES = ("bank_manager", "centre_staff")
ACT_ROLES = ("bank_manager",)


def _analyse(ctx: JobContext, session_id: int, model: str | None) -> SessionAnalysis:
    exam_session = ctx.session.get(ExamSession, session_id)
    if exam_session is None:
        raise AnalysisError(f"考试场次 {session_id} 不存在。", status=404)
    ctx.progress(0.05, f"正在计算考试场次 {exam_session.code} 的试题分析（经典统计与IRT估计）")
    analysis = analyse_session(ctx.session, exam_session, AnalysisSettings.from_config(current_app.config, model=model))
    ctx.session.commit()  # the reading is done; what follows holds no snapshot
    ctx.check_cancelled()
    return analysis


def _back_to(analysis: SessionAnalysis) -> dict[str, Any]:
    return {"endpoint": "analysis.session_page",
            "values": {"session_id": analysis.exam_session_id, "model": analysis.settings.model},
            "text": "返回试题分析"}


@job_handler(EXPORT, label="导出试题分析", roles=VIEW_ROLES)
def export(ctx: JobContext, *, session_id: int, model: str | None = None) -> dict[str, Any]:
    """Every table of the sitting's analysis as one workbook, one sheet each."""
    analysis = _analyse(ctx, session_id, model)
    ctx.progress(0.8, "正在写入 Excel")
    ctx.output(f"item-analysis-{analysis.code}-{analysis.settings.model}.xlsx").write_bytes(export_excel(analysis))
    return {"lines": [f"考试场次 {analysis.code} 的试题分析已导出，请下载。"], "link": _back_to(analysis)}


@job_handler(ACCEPT, label="保存试题估计值", roles=ACT_ROLES)
def accept(ctx: JobContext, *, session_id: int, model: str | None = None) -> dict[str, Any]:
    """Store p, a, b, c of the eligible item versions, for assembly's difficulty and information targets."""
    analysis = _analyse(ctx, session_id, model)
    ctx.progress(0.8, "正在保存估计值")
    ctx.begin_write()
    report = accept_estimates(ctx.session, analysis, ctx.actor)
    lines = report.lines()
    lines[0] += "；题库组卷将按这些难度与IRT参数计算难度和信息量目标。"
    return {"lines": lines, "accepted": len(report.accepted), "link": _back_to(analysis)}

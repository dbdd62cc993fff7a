"""Background jobs of the skill assessment, and the release check every process needs.

- "skills.import_scores" (params: upload, the stashed .xlsx; name; sitting_id): examiners' marks typed into the
  workbook from printed score sheets, all or nothing (skills/imports.py); the job fails naming every bad row.

A release of a skill sitting waits for its open station scores: the check is registered here because every
process imports this module (app.JOB_MODULES), the web server, the worker and the shell alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from exam_server.core.models import User
from exam_server.jobs import JobContext, JobRefused, job_handler
from exam_server.organisations.scope import scope_for
from exam_server.results.release import register_release_check
from exam_server.sessions.models import ExamSession
from exam_server.sessions.sites import check_sitting
from exam_server.skills.imports import import_scores
from exam_server.skills.queries import open_work
from item_bank.kernel.actors import kind_of

IMPORT_SCORES = "skills.import_scores"
ROLES = ("centre_staff",)

register_release_check("skills", open_work)


class SkillJobRefused(JobRefused):
    default_code = "skill_job_refused"
    default_status = 403


def _sitting_in_scope(ctx: JobContext, sitting_id: int) -> ExamSession:
    sitting = ctx.session.get(ExamSession, sitting_id)
    if sitting is None:
        raise SkillJobRefused(f"考试场次 {sitting_id} 不存在", status=404)
    login = ctx.actor.partition(":")[2] if kind_of(ctx.actor) == "user" else ""
    if login:  # a staff member's job acts within their scope as it is now
        user = ctx.session.scalar(select(User).where(User.username == login))
        if user is None or not user.active or not user.has_role(*ROLES):
            raise SkillJobRefused("导入评分须由鉴定中心的账号提交（账号不存在、已停用或没有相应角色）")
        scope = scope_for(user, ctx.session)
        check_sitting(scope, sitting)
        scope.check_write()
    return sitting


@job_handler(IMPORT_SCORES, label="导入操作技能评分", roles=ROLES)
def import_scores_job(ctx: JobContext, *, upload: str, name: str, sitting_id: int) -> dict[str, Any]:
    sitting = _sitting_in_scope(ctx, sitting_id)
    path = ctx.upload
    if path is None:
        raise SkillJobRefused("没有要导入的文件。", status=400)
    ctx.progress(0.1, f"正在读取并检查 {name}")
    ctx.begin_write()
    report = import_scores(ctx.session, sitting, path, name, ctx.actor)
    ctx.progress(1.0, "导入完成")
    return {"lines": report.lines(), "marks": report.marks,
            "link": {"endpoint": "skills.sitting", "values": {"session_id": sitting_id}, "text": "返回操作技能场次"}}

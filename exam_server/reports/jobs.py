"""Background jobs of reports: the workbooks are written in the worker, and a centre's uploaded file is imported
there (read from its stash no further than the file limit).

- "reports.workbook" (params: from, to, level, holders, centre): the figures the submitting account may see
  (or of one centre it may see) as an .xlsx, with the holders' list if asked.
- "reports.province_workbook" (params: from, to): the province's summary of the centres' imported files.
- "reports.import" (params: upload, name): a centre's signed period file, verified and imported.

Each runs as the account that submitted it, with that account's scope as it is now. Only the province reads
every job of these kinds; a centre's staff see their own (a centre's workbook is not another centre's to read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.jobs import JobContext, JobRefused, job_handler
from exam_server.organisations.scope import EVERYTHING, Scope, scope_for
from exam_server.reports import figures as F
from exam_server.reports import operations, signing
from exam_server.reports.tables import TEXT, Table
from exam_server.reports.workbook import workbook_bytes
from item_bank.db import utcnow
from item_bank.kernel.actors import kind_of

WORKBOOK = "reports.workbook"
PROVINCE_WORKBOOK = "reports.province_workbook"
IMPORT = "reports.import"
READERS = ("centre_staff", "province", "police")
VISIBLE_TO = ("province",)


class ReportRefused(JobRefused):
    default_code = "report_refused"
    default_status = 403


def reader_scope(session: Session, actor: str, roles: tuple[str, ...] = READERS) -> Scope:
    """The scope of the account behind `user:<login>` (it must still hold one of `roles`); a shell command's
    (`cli:…`) is the whole province: whoever runs examctl runs the server."""
    kind = kind_of(actor)
    if kind == "cli":
        return EVERYTHING
    login = actor.partition(":")[2] if kind == "user" else ""
    user = session.scalar(select(User).where(User.username == login)) if login else None
    if user is None or not user.active or not user.has_role(*roles):
        raise ReportRefused("统计报表只供鉴定中心、省级和治安部门的账号查看（提交人账号不存在、已停用或没有相应角色）。")
    return scope_for(user, session)


def report_scope(session: Session, scope: Scope, centre_code: str | None) -> Scope:
    """`scope`, or one centre's when `centre_code` names one the scope sees (another's is refused)."""
    if not centre_code:
        return scope
    centre = operations.centre_by_code(session, centre_code)
    scope.check_centre(centre.id, "鉴定中心的报表")
    return F.centre_scope(session, centre)


def build_workbook(session: Session, scope: Scope, period: F.Period, level: int | None, holders: bool) -> bytes:
    report = F.compute(session, scope, period, level)
    people = F.holders(session, scope, period, level) if holders else None
    session.commit()  # reading done: hold no snapshot while writing the file
    return workbook_bytes(report, holders=people)


def files_table(rows: list[Any]) -> Table:
    return Table("报送文件", "已汇总的鉴定中心报送文件",
                 ["鉴定中心", "代码", "起始日期", "截止日期", "中心生成时间", "文件名", "导入人", "签名密钥"],
                 [TEXT] * 8,
                 [[r.centre.name, r.centre.code, r.period_from.isoformat(), r.period_to.isoformat(), r.exported_at,
                   r.file_name, r.imported_by, r.key.fingerprint] for r in rows])


def build_province_workbook(session: Session, start: str | None, end: str | None) -> bytes:
    period = F.Period.parse(start, end) if start or end else None
    summary, rows = operations.province_summary(session, period.start if period else None,
                                                period.end if period else None)
    shown = period.as_dict() if period else {"from": "全部", "to": "全部"}
    report = {**summary, "period": shown, "scope": f"全省（{len({r.centre_id for r in rows})} 个鉴定中心报送）",
              "level": None, "generated_at": utcnow().isoformat(timespec="seconds")}
    table = files_table(rows)
    session.commit()
    return workbook_bytes(report, title="保安员职业技能鉴定全省汇总报表（各鉴定中心报送）", files=table)


def _name(period: F.Period, level: int | None) -> str:
    return f"统计报表_{period.start:%Y%m%d}-{period.end:%Y%m%d}" + (f"_{level}级" if level else "") + ".xlsx"


@job_handler(WORKBOOK, label="生成统计报表", roles=VISIBLE_TO)
def workbook_job(ctx: JobContext, *, start: str, end: str, level: int | None = None, holders: bool = False,
                 centre: str | None = None) -> dict[str, Any]:
    scope = report_scope(ctx.session, reader_scope(ctx.session, ctx.actor), centre)
    period = F.Period.parse(start, end)
    F.check_level(level)
    ctx.progress(0.1, "正在统计")
    data = build_workbook(ctx.session, scope, period, level, holders)
    name = _name(period, level)
    ctx.output(name).write_bytes(data)
    return {"lines": [f"{scope.label}：{period.start} 至 {period.end} 的统计报表已生成（{name}）。"],
            "link": {"endpoint": "reports.index", "values": {"from": start, "to": end}, "text": "返回统计报表"}}


@job_handler(PROVINCE_WORKBOOK, label="生成全省汇总报表", roles=VISIBLE_TO)
def province_workbook_job(ctx: JobContext, *, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    reader_scope(ctx.session, ctx.actor, ("province", "police"))
    ctx.progress(0.1, "正在汇总各鉴定中心报送的文件")
    data = build_province_workbook(ctx.session, start, end)
    ctx.output("全省汇总报表.xlsx").write_bytes(data)
    return {"lines": ["全省汇总报表已生成。"],
            "link": {"endpoint": "reports.province", "values": {}, "text": "返回全省汇总"}}


def keys_folder() -> Path:
    return signing.keys_dir(current_app.config, current_app.instance_path)


@job_handler(IMPORT, label="导入鉴定中心报送文件", roles=VISIBLE_TO)
def import_job(ctx: JobContext, *, upload: str, name: str) -> dict[str, Any]:
    scope = reader_scope(ctx.session, ctx.actor, ("province",))
    scope.check_write()
    if not scope.everything:
        raise ReportRefused("只有省级账号可以导入鉴定中心的报送文件。")
    path = ctx.upload
    if path is None:
        raise ReportRefused("没有要导入的文件。", status=400)
    envelope = signing.read_file(path, name)
    done = operations.import_file(ctx.session, envelope, ctx.actor, name)
    return {"lines": [done.message()], "created": done.created,
            "link": {"endpoint": "reports.province", "values": {}, "text": "返回全省汇总"}}

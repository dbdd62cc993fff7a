"""Background jobs of the results package: building it at a site, importing it (and scoring) at the centre."""

from __future__ import annotations

from typing import Any

from exam_server.core import signing
from exam_server.jobs import JobContext, job_handler
from exam_server.sitenode import package, results_package
from exam_server.sitenode.package import PackageError

BUILD = "sitenode.results"
IMPORT = "sitenode.import_results"
ROLES = ("centre_staff",)


@job_handler(BUILD, label="生成考点成绩数据包", roles=ROLES)
def build_results(ctx: JobContext, *, session_id: int, site_id: int) -> dict[str, Any]:
    """The signed results package of a sitting at this site, as the job's download."""
    exam_session, site = package.sitting_and_site(ctx.session, session_id, site_id)
    ctx.progress(0.05, "正在读取作答记录和事件记录")
    built = results_package.build_results(ctx.session, exam_session, site,
                                          signing.load_private_key(signing.node_folder()), ctx.actor)
    ctx.output(f"成绩数据包-{exam_session.code}-{site.code}.zip").write_bytes(built.data)
    s = built.summary
    lines = [f"考试场次 {exam_session.code} 考点 {site.code} 的成绩数据包已生成（{len(built.data) / 1024:.0f} KB）："
             f"{s['attempts']} 份作答记录（已交卷 {s['submitted']} 份），{s['events']} 个事件，签到 {s['check_ins']} 条，"
             f"考场事件 {s['incidents']} 条，监考操作 {s['proctor_actions']} 条。",
             "请将数据包交回鉴定中心导入。"]
    lines += [f"警告：{line}（鉴定中心将拒绝导入此数据包）" for line in s["broken"]]
    return {"lines": lines, **s}


@job_handler(IMPORT, label="导入考点成绩数据包", roles=ROLES)
def import_results(ctx: JobContext, *, upload: str, name: str = "") -> dict[str, Any]:
    """Check an uploaded results package, import what is new in one transaction, then score the sitting."""
    path = ctx.upload
    if path is None:
        raise PackageError("没有上传成绩数据包")
    ctx.progress(0.1, "正在校验签名和每份事件记录")
    report = results_package.import_results(ctx.session, path, ctx.actor, name=name or None)
    ctx.progress(1.0, "导入完成")
    return {"lines": report.lines(), **report.summary()}

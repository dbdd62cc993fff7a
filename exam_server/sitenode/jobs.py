"""Background jobs of the offline node: building a sitting package (centre) and importing one (site)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from exam_server.core import signing
from exam_server.jobs import JobContext, job_handler
from exam_server.sessions.credentials import app_secret, hash_profile
from exam_server.sitenode import package
from exam_server.sitenode.package import PackageError

EXPORT = "sitenode.export"
IMPORT = "sitenode.import"
ROLES = ("centre_staff",)


@job_handler(EXPORT, label="导出考点考试数据包", roles=ROLES)
def export_package(ctx: JobContext, *, session_id: int, site_id: int) -> dict[str, Any]:
    """The signed, sealed package of a sitting for one site, as the job's download."""
    exam_session, site = package.sitting_and_site(ctx.session, session_id, site_id)
    ctx.progress(0.05, "正在读取场次、考生和试卷")
    built = package.build_package(ctx.session, exam_session, site, signing.load_private_key(signing.node_folder()),
                                  ctx.actor, secret_key=app_secret(), hash_profile=hash_profile())
    ctx.output(f"考试数据包-{exam_session.code}-{site.code}.zip").write_bytes(built.data)
    s = built.summary
    lines = [f"考试场次 {exam_session.code} 考点 {site.code} 的考试数据包已生成（{len(built.data) / 1024:.0f} KB）："
             f"{s['candidates']} 名考生，{s['forms']} 套试卷，{s['rooms']} 个考场，{s['proctors']} 名监考员。",
             "试卷已加密封存：开考时在“考点数据包”页面取得解封码，告知考点主监考。"]
    if s["needs_password_reset"]:
        lines.append(f"{s['needs_password_reset']} 名考生已在中心登录过，其密码无法带到考点，需由考点监考员重置。")
    return {"lines": lines, **s}


@job_handler(IMPORT, label="导入考点考试数据包", roles=ROLES)
def import_package(ctx: JobContext, *, upload: str, sitting: str = "", name: str = "") -> dict[str, Any]:
    """Check and import an uploaded package at this site, in one transaction."""
    path = ctx.upload
    if path is None:
        raise PackageError("没有上传考试数据包")
    ctx.progress(0.1, "正在校验签名和内容")
    site_code = package.node_site_code(signing.node_folder(), current_app.config.get("SITE_CODE"))
    result = package.import_package(ctx.session, path, ctx.actor, site_code=site_code,
                                    expected_sitting=sitting or None, name=name or None)
    if result["already"]:
        lines = [f"数据包 {name} 已导入过，未做任何改动。"]
    else:
        lines = [f"已导入考试场次 {result['sitting']}：{result['candidates']} 名考生，{result['forms']} 套试卷，"
                 f"{result['rooms']} 个考场，{result['proctors']} 名监考员。",
                 "试卷封存中：开考时由主监考在“试卷解封”页面输入鉴定中心给出的解封码。", *result.get("warnings", [])]
    return {"lines": lines, **result}

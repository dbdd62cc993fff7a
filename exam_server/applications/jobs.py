"""The unit's Excel import as a background job ("applications.import"), like the bank's (bank/jobs.py).

params: upload (the stashed .xlsx), name (its file name), unit_id (the unit the trainees apply through). The job
runs as the staff account that submitted it, with that account's scope as it is now: the unit must be theirs.
All or nothing: a file with any bad row fails the job, and its page lists every row and column.

"applications.photos" (params: upload, a zip of `<身份证号>.jpg|png`; name; unit_id): the unit's applicants' ID
photos, all or none, every unmatched or refused file named.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.applications.excel import read_workbook
from exam_server.applications.operations import ApplicationError, import_photos, import_rows
from exam_server.applications.photos import read_photo_archive
from exam_server.core.models import User
from exam_server.jobs import JobContext, JobRefused, job_handler
from exam_server.organisations.models import PilotUnit
from exam_server.organisations.scope import Scope, scope_for
from item_bank.kernel.actors import kind_of

IMPORT = "applications.import"
PHOTOS = "applications.photos"
IMPORT_ROLES = ("pilot_unit", "centre_staff", "province")


class ApplicationImportRefused(JobRefused):
    default_code = "import_refused"
    default_status = 403


def importer_scope(session: Session, actor: str) -> Scope:
    """The scope of the account behind `user:<login>`, which must still hold a role that imports."""
    login = actor.partition(":")[2] if kind_of(actor) == "user" else ""
    user = session.scalar(select(User).where(User.username == login)) if login else None
    if user is None or not user.active or not user.has_role(*IMPORT_ROLES):
        raise ApplicationImportRefused("导入申请须由试点单位或鉴定中心的账号提交（提交人账号不存在、已停用或没有相应角色）。")
    return scope_for(user, session)


@job_handler(IMPORT, label="导入鉴定申请", roles=IMPORT_ROLES)
def import_job(ctx: JobContext, *, upload: str, name: str, unit_id: int) -> dict[str, Any]:
    """Read the workbook (no lock held), then store every row or none."""
    scope = importer_scope(ctx.session, ctx.actor)
    unit = ctx.session.get(PilotUnit, unit_id)
    if unit is None:
        raise ApplicationImportRefused(f"没有试点单位 {unit_id}", status=404)
    scope.check_unit(unit.id, "试点单位")
    ctx.session.commit()
    path = ctx.upload
    if path is None:
        raise ApplicationImportRefused("没有要导入的文件。", status=400)
    started = time.perf_counter()
    ctx.progress(0.05, f"正在读取 {name}")
    sheet = read_workbook(path, name=name)
    if sheet.problems:
        raise ApplicationError(f"{name} 无法读取，未导入任何申请：" + "；".join(map(str, sheet.problems[:20])),
                               problems=sheet.problems, code="import_refused")
    ctx.check_cancelled()
    ctx.progress(0.4, f"已读取 {len(sheet.rows)} 行，正在检查并保存")
    ctx.begin_write()
    result = import_rows(ctx.session, unit, sheet.rows, actor=ctx.actor, scope=scope, file=name)
    return {"file": name, "unit": unit.name, "rows": result.rows, "created": result.created,
            "theory_exempt": result.exempt, "elapsed_s": round(time.perf_counter() - started, 2),
            "lines": [f"{unit.name}：导入 {result.created} 份申请（其中 {result.exempt} 人免考理论知识）"]}


@job_handler(PHOTOS, label="导入证件照", roles=IMPORT_ROLES)
def photos_job(ctx: JobContext, *, upload: str, name: str, unit_id: int) -> dict[str, Any]:
    """Read the zip through the bounded reader, then store every photo or none."""
    scope = importer_scope(ctx.session, ctx.actor)
    unit = ctx.session.get(PilotUnit, unit_id)
    if unit is None:
        raise ApplicationImportRefused(f"没有试点单位 {unit_id}", status=404)
    scope.check_unit(unit.id, "试点单位")
    ctx.session.commit()
    path = ctx.upload
    if path is None:
        raise ApplicationImportRefused("没有要导入的文件。", status=400)
    ctx.progress(0.05, f"正在读取 {name}")
    photos = read_photo_archive(path, name=name)
    ctx.check_cancelled()
    ctx.progress(0.4, f"已读取 {len(photos)} 张照片，正在检查并保存")
    ctx.begin_write()
    stored = import_photos(ctx.session, unit, photos, actor=ctx.actor, scope=scope, file=name)
    return {"file": name, "unit": unit.name, "photos": stored, "lines": [f"{unit.name}：保存 {stored} 张证件照"]}

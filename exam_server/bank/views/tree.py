"""The knowledge tree (知识点) and its weight table (比重表), and the bank's coverage of them; the tree as a whole
file: exported as Excel or JSON at once (a tree is small), imported as a job (bank.tree_import) whose dry run names
every bad row before its uploader confirms."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank.jobs import TREE_IMPORT, confirm_tree_dry_run, kept_upload
from exam_server.bank.views.common import BANK, MANAGERS, digits, found, who
from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import Job, job_queue, stash_upload, submit_job
from exam_server.jobs.queries import may_read
from item_bank.coverage import coverage, levels_in_bank
from item_bank.models import KnowledgeArea
from item_bank.search import UNCLASSIFIED
from item_bank.tree import KINDS, PART_LABELS, THEORY, TreeError, tree_rows
from item_bank.tree_exchange import export_tree

TREE_FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "json": "application/json"}  # fmt: skip


def _level_and_part(values: Any) -> tuple[int, str]:
    """The tree a request is about: a level (5 unless given) and a part (theory unless given)."""
    return values.get("level", 5, type=int), values.get("part", THEORY)


@role_required(*BANK)
def tree() -> str:
    level, part = _level_and_part(request.args)
    rows = tree_rows(db.session, level, part)
    can_manage = who().has_role(*MANAGERS)
    return render_template(
        "bank/tree.html",
        rows=rows,
        level=level,
        part=part,
        kinds=KINDS,
        total_share=sum(r.weight or 0 for r in rows),
        can_manage=can_manage,
        # The shipped tree is level 5 theory; a manager creates it with one click (a GET never writes).
        can_seed=can_manage and not rows and (level, part) == (5, THEORY),
        levels=levels_in_bank(db.session),
    )


def _tree_redirect(level: Any, part: Any) -> WerkzeugResponse:
    return redirect(url_for("bank.tree", level=level or 5, part=part or THEORY))


@role_required(*MANAGERS)
def tree_seed() -> WerkzeugResponse:
    created = ops.seed_standard_tree(db.session, who().actor)
    flash(f"已建立标准知识树（{created} 个知识点）和比重表" if created else "知识树已存在，未作改动")
    return _tree_redirect(5, THEORY)


@role_required(*MANAGERS)
def tree_create() -> WerkzeugResponse:
    f = request.form
    try:
        area = ops.add_area(
            db.session,
            who(),
            level=int(f.get("level", 5)),
            part=f.get("part", THEORY),
            code=f.get("code", ""),
            name=f.get("name", ""),
            kind=f.get("kind", "知识点"),
            parent_id=digits(f.get("parent_id")),
        )
        flash(f"已新增知识点 {area.code} {area.name}")
    except TreeError as exc:
        flash(f"未能新增：{exc}")
    return _tree_redirect(f.get("level"), f.get("part"))


@role_required(*MANAGERS)
def tree_update(area_id: int) -> WerkzeugResponse:
    area: KnowledgeArea = found(db.session.get(KnowledgeArea, area_id))
    f = request.form
    op = f.get("op", "update")
    level, part = area.level, area.part
    try:
        if op == "update":
            ops.rename_area(
                db.session, area, who(), name=f.get("name"), code=f.get("code"), kind=f.get("kind")
            )
            message = f"已修改知识点 {area.code} {area.name}"
        elif op == "move":
            position = f.get("position", "")
            ops.relocate_area(
                db.session,
                area,
                who(),
                parent_id=digits(f.get("parent_id")),
                position=int(position) if position.lstrip("-").isdigit() else None,
            )
            message = f"已移动知识点 {area.name}"
        elif op == "merge":
            target, n = ops.merge_area(db.session, area, f.get("target_id", type=int), who())
            message = f"已将“{area.name}”合并到“{target.name}”，{n} 个试题版本随之归入"
        else:
            abort(400)
        flash(message)
    except TreeError as exc:
        flash(f"未完成：{exc}")
    return _tree_redirect(level, part)


@role_required(*MANAGERS)
def tree_weights() -> WerkzeugResponse:
    level, part = _level_and_part(request.form)
    shares: dict[int, float] = {}
    try:
        for name, value in request.form.items():
            if name.startswith("w_") and value.strip():
                shares[int(name[2:])] = float(value) / 100
        ops.set_weights(db.session, level, part, shares, who())
        total = sum(shares.values()) * 100
        flash(f"已保存 {level} 级{PART_LABELS.get(part, part)}比重表（合计 {total:.0f}%）")
    except (TreeError, ValueError) as exc:
        flash(f"比重表未保存：{exc}")
    return _tree_redirect(level, part)


@role_required(*BANK)
def coverage_page() -> str:
    level, part = _level_and_part(request.args)
    return render_template(
        "bank/coverage.html",
        table=coverage(db.session, level, part),
        levels=levels_in_bank(db.session),
        UNCLASSIFIED=UNCLASSIFIED,
    )


# ----- the tree as a file


@role_required(*BANK)
def tree_export() -> WerkzeugResponse:
    """The tree shown (or, with all=1, every tree of the bank) as an Excel or JSON download."""
    fmt = request.args.get("format", "xlsx")
    if fmt not in TREE_FORMATS:
        abort(400, description=f"不支持的导出格式 {fmt}：应为 xlsx 或 json")
    every = request.args.get("all") == "1"
    level, part = _level_and_part(request.args)
    name = "知识树_全部" if every else f"知识树_{level}级{PART_LABELS.get(part, part)}"
    with tempfile.TemporaryDirectory(prefix="tree-export-") as folder:
        path = Path(folder) / f"{name}.{fmt}"
        export_tree(db.session, path, level=None if every else level, part=None if every else part)
        data = io.BytesIO(path.read_bytes())
    return send_file(data, as_attachment=True, download_name=path.name, mimetype=TREE_FORMATS[fmt])


@role_required(*MANAGERS)
def tree_import() -> WerkzeugResponse:
    """Stash a tree file and start its dry run; the job page leads to the report."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的知识树文件（.xlsx 或 .json）")
        return _tree_redirect(request.form.get("level"), request.form.get("part"))
    name = Path(upload.filename).name
    suffix = Path(name).suffix.lower()
    if suffix not in (".xlsx", ".json"):
        flash(f"不支持的文件类型 {suffix or '(无扩展名)'}：知识树文件应为 .xlsx 或 .json")
        return _tree_redirect(request.form.get("level"), request.form.get("part"))
    token = stash_upload(upload.stream, suffix)
    job = submit_job(TREE_IMPORT, {"upload": token, "name": name, "dry_run": True}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


def _readable_tree_import(job_id: int) -> Job:
    job = found(db.session.get(Job, job_id))
    if job.kind != TREE_IMPORT or not may_read(job, current_user.actor, current_user.has_role):
        abort(404, description="知识树导入任务不存在，或您无权查看。")
    return job


@role_required(*MANAGERS)
def tree_import_report(job_id: int) -> str:
    """A tree dry run's (or import's) report: the counts, or every bad row; the uploader's confirm button."""
    job = _readable_tree_import(job_id)
    result = job.result or {}
    confirmable = (
        job.status == "done"
        and bool(job.params.get("dry_run"))
        and bool(result.get("ok"))
        and job.created_by == current_user.actor
        and kept_upload(job_queue().jobs_dir / str(job.id)) is not None
    )
    return render_template("bank/tree_import_report.html", job=job, result=result, confirmable=confirmable)


@role_required(*MANAGERS)
def tree_import_confirm(job_id: int) -> WerkzeugResponse:
    """Import the tree file the passed dry run checked."""
    job = confirm_tree_dry_run(_readable_tree_import(job_id), job_queue().jobs_dir, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))

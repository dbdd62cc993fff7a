"""The bank's background jobs: importing a file (its dry run, then the import itself) and exporting the bank.

Both run in the worker (`examctl worker`), never on the exam server's event loop: parsing a large file or writing
an export with its images once froze every candidate's socket for seconds (issue 13, findings 1, 2, 5).

- "bank.import" (params: upload, name, status, dry_run): reads the stashed upload and checks it against the bank
  holding no write lock, then stores it all or nothing in short transactions (item_bank.importing), as the
  importer (the staff account that submitted the job), recorded as the versions' author. A dry run keeps its file in its own job folder, so "确认导入" submits the real import
  of the very file checked (`confirm_dry_run`); the worker deletes every upload after its job, and a kept file is
  deleted when it is confirmed, or by housekeeping (ops/housekeeping.py) once it is older than BANK_DRY_RUN_KEEP_H.
- "bank.tree_import" (params: upload, name, dry_run): a knowledge-tree file (Excel or JSON, item_bank.tree_exchange)
  checked in full by a dry run that names every bad row, then imported all or nothing when its uploader confirms
  (the same kept-file hand-over as items).
- "bank.export" (params: format, include_images): writes the table (and its images) into a scratch folder inside
  the job's own folder, then one archive beside that folder; only the archive remains.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.bank.operations import AUTHOR_ROLES, MANAGER_ROLES, read_import, store_import
from exam_server.core.models import User
from exam_server.jobs import Job, JobContext, JobRefused, job_handler, job_queue, stash_upload, submit_job
from exam_server.jobs.files import is_within
from exam_server.ops.housekeeping import housekeeping_step
from item_bank.db import utcnow
from item_bank.exchange.records import BankImportError, ImportReport
from item_bank.exporting import ExportError, ExportReport, export_items
from item_bank.kernel.actors import kind_of
from item_bank.models import IN_REVIEW
from item_bank.review import Reviewer
from item_bank.tree_exchange import TreeImportError, import_tree

IMPORT = "bank.import"
TREE_IMPORT = "bank.tree_import"
EXPORT = "bank.export"
EXPORT_FORMATS = {"xlsx": ".xlsx", "csv": ".csv", "json": ".json", "zip": ".zip"}
FORMAT_LABELS = {"xlsx": "Excel", "csv": "CSV", "json": "JSON", "zip": "QTI 2.1 内容包"}
# The file a dry run keeps for its confirmation, inside its own job folder (never downloadable: not its output).
KEPT_UPLOAD = "pending-upload"
KEEP_DRY_RUN_H = 24
# How many problems, duplicates and hints a job's result keeps for its report page (a bad 50,000-row file
# would otherwise store them all in the job row).
REPORT_LIMIT = 500
LINES_LIMIT = 20


class ImportJobRefused(JobRefused):
    default_code = "import_refused"
    default_status = 403


# ----- import


def importer_of(session: Session, actor: str) -> Reviewer:
    """The staff account behind a job's actor (`user:wang`), as it is now: it must still hold an author's role."""
    login = actor.partition(":")[2] if kind_of(actor) == "user" else ""
    user = session.scalar(select(User).where(User.username == login)) if login else None
    if user is None or not user.active or not user.has_role(*AUTHOR_ROLES):
        raise ImportJobRefused(
            "导入须由命题人或题库管理员的账号提交（提交人账号不存在、已停用或没有相应角色）。"
        )
    return Reviewer(actor, user.id, frozenset(user.roles or []))


def report_summary(report: ImportReport) -> dict[str, Any]:
    """The figures of an import (or of its dry run) that its pages show."""
    return {
        "file": report.file,
        "format": report.format,
        "items_read": report.items_read,
        "created": report.created,
        "new_versions": report.new_versions,
        "unchanged": report.unchanged,
        "sets": report.sets_created,
        "unclassified": report.unclassified,
        "duplicates": [str(d) for d in report.duplicates[:REPORT_LIMIT]],
        "duplicate_count": len(report.duplicates),
        "warnings": [str(w) for w in report.warnings[:REPORT_LIMIT]],
        "warning_count": len(report.warnings),
        "elapsed_s": round(report.elapsed_s, 2),
    }


@job_handler(IMPORT, label="导入试题", roles=MANAGER_ROLES)
def import_job(
    ctx: JobContext,
    *,
    upload: str,
    name: str,
    status: str = IN_REVIEW,
    dry_run: bool = True,
    confirms: int | None = None,
) -> dict[str, Any]:
    """Check (dry run) or import the uploaded file (`confirms`: the dry run it confirms, for the record). A dry run
    that finds problems is done, not failed: its report lists them; a real import that finds any fails and
    stores nothing."""
    who = importer_of(ctx.session, ctx.actor)
    ctx.session.commit()
    path = ctx.upload
    if path is None:
        raise ImportJobRefused("没有要导入的文件。", status=400)
    discard_stale_dry_runs(ctx.session, ctx.workdir.parent)
    ctx.progress(0.05, f"正在读取 {name}")
    parsed = read_import(path, name=name)
    ctx.check_cancelled()
    ctx.progress(0.5, f"已读取 {len(parsed.items)} 题，正在检查并{'预检' if dry_run else '保存'}")
    # The import checks the file against the bank reading only, then writes in short transactions that each take
    # the write lock at their start (item_bank.importing): candidates' saves get the lock between chunks.
    ctx.session.commit()

    def written(fraction: float) -> None:
        ctx.progress(0.5 + 0.45 * fraction, f"已保存 {fraction:.0%}")

    try:
        report = store_import(
            ctx.session,
            parsed,
            who,
            status=status,
            dry_run=dry_run,
            source=f"上传文件 {name}",
            progress=written,
        )
    except BankImportError as exc:
        if not dry_run:
            raise
        ctx.session.rollback()
        return dry_run_refused(name, exc)
    summary = report_summary(report)
    if dry_run:
        kept = path.suffix.lower()
        shutil.move(path, ctx.workdir / f"{KEPT_UPLOAD}{kept}")  # the confirmation imports this very file
        return {
            **summary,
            "dry_run": True,
            "ok": True,
            "status": status,
            "lines": import_lines(report, dry_run=True),
            "link": {
                "endpoint": "bank.import_report",
                "values": {"job_id": ctx.job_id},
                "text": f"查看预检报告并确认导入 {report.items_read} 题",
            },
        }
    return {
        **summary,
        "dry_run": False,
        "ok": True,
        "status": status,
        "batch_id": report.batch_id,
        "lines": import_lines(report, dry_run=False),
        "link": {"endpoint": "bank.import_report", "values": {"job_id": ctx.job_id}, "text": "查看导入报告"},
    }


def dry_run_refused(name: str, exc: BankImportError) -> dict[str, Any]:
    problems = [str(p) for p in exc.problems]
    return {
        "file": name,
        "dry_run": True,
        "ok": False,
        "problems": problems[:REPORT_LIMIT],
        "problem_count": len(problems),
        "lines": [
            f"预检未通过：{name} 共 {len(problems)} 处问题，题库没有任何改动。请在原文件中按行号和列名修改后重新上传。",
            *problems[:LINES_LIMIT],
            *(
                [f"……另有 {len(problems) - LINES_LIMIT} 处问题，见预检报告"]
                if len(problems) > LINES_LIMIT
                else []
            ),
        ],
        "link": {"endpoint": "bank.exchange", "values": {}, "text": "返回导入导出，重新上传"},
    }


def import_lines(report: ImportReport, *, dry_run: bool) -> list[str]:
    """The Chinese summary of an import or its dry run, a line per fact."""
    head = "预检通过（尚未保存）" if dry_run else "导入完成"
    lines = [
        f"{head}：{report.file}，读取 {report.items_read} 题：新建 {report.created} 题，新版本 {report.new_versions}，"
        f"未变 {report.unchanged}，题组 {report.sets_created}，未分类 {report.unclassified}。",
    ]
    if report.duplicates:
        lines.append(f"疑似重复 {len(report.duplicates)} 题（已设为互斥，交审题人处理）：")
        lines.extend(str(d) for d in report.duplicates[:LINES_LIMIT])
    if report.warnings:
        lines.append(f"提示 {len(report.warnings)} 条，见{'预检' if dry_run else '导入'}报告。")
    if dry_run:
        lines.append("确认无误后点击“确认导入”；导入的试题进入“待审核”，须由另一位审题人审核通过。")
    elif report.batch_id is not None:
        lines.append(
            f"导入批次 {report.batch_id}：{len(report.version_ids)} 个版本待审核，请另一位审题人在“审核”页整批或逐题审核通过。"
        )
    return lines


# ----- knowledge-tree import


def _tree_manager(session: Session, actor: str) -> None:
    """The account behind a tree import must still be a bank manager's when its job runs."""
    login = actor.partition(":")[2] if kind_of(actor) == "user" else ""
    user = session.scalar(select(User).where(User.username == login)) if login else None
    if user is None or not user.active or not user.has_role(*MANAGER_ROLES):
        raise ImportJobRefused("知识树导入须由题库管理员的账号提交（提交人账号不存在、已停用或没有相应角色）。")


@job_handler(TREE_IMPORT, label="导入知识树", roles=MANAGER_ROLES)
def tree_import_job(
    ctx: JobContext, *, upload: str, name: str, dry_run: bool = True, confirms: int | None = None
) -> dict[str, Any]:
    """Check (dry run: every bad row named, nothing kept) or import a knowledge-tree file, all or nothing."""
    _tree_manager(ctx.session, ctx.actor)
    ctx.session.commit()
    path = ctx.upload
    if path is None:
        raise ImportJobRefused("没有要导入的知识树文件。", status=400)
    ctx.progress(0.1, f"正在读取并检查 {name}")
    # A tree is small; its check flushes the areas to find every problem, so it takes the write lock briefly.
    ctx.begin_write()
    try:
        report = import_tree(ctx.session, path, actor=ctx.actor, dry_run=dry_run, name=name)
    except TreeImportError as exc:
        ctx.session.rollback()
        if not dry_run:
            raise
        problems = [str(p) for p in exc.problems]
        return {
            "file": name, "dry_run": True, "ok": False, "problems": problems, "problem_count": len(problems),
            "lines": [f"预检未通过：{name} 共 {len(problems)} 处问题，知识树没有任何改动。", *problems[:LINES_LIMIT]],
            "link": {"endpoint": "bank.tree_import_report", "values": {"job_id": ctx.job_id},
                     "text": "查看预检报告（列出每一处问题）"},
        }  # fmt: skip
    figures = {"file": name, "created": report.created, "updated": report.updated,
               "unchanged": report.unchanged, "weight_tables": report.weight_tables}  # fmt: skip
    if dry_run:
        ctx.session.rollback()  # the check only: nothing of it stays
        shutil.move(path, ctx.workdir / f"{KEPT_UPLOAD}{path.suffix.lower()}")
        return {
            **figures, "dry_run": True, "ok": True,
            "lines": [report.summary(), "确认无误后，在预检报告页点击“确认导入”。"],
            "link": {"endpoint": "bank.tree_import_report", "values": {"job_id": ctx.job_id},
                     "text": "查看预检报告并确认导入"},
        }  # fmt: skip
    ctx.session.commit()
    return {
        **figures, "dry_run": False, "ok": True, "confirms": confirms, "lines": [report.summary()],
        "link": {"endpoint": "bank.tree", "values": {}, "text": "查看知识树"},
    }  # fmt: skip


def confirm_tree_dry_run(dry_run: Job, jobs_dir: Path, actor: str) -> Job:
    """Submit the real import of the tree file a passed dry run checked, for the person who uploaded it."""
    if dry_run.kind != TREE_IMPORT or not (dry_run.params or {}).get("dry_run") or dry_run.status != "done" \
            or not (dry_run.result or {}).get("ok"):  # fmt: skip
        raise ImportJobRefused("只有通过的预检才能确认导入。", status=409)
    if dry_run.created_by != actor:
        raise ImportJobRefused("只有上传该文件的人可以确认导入。")
    kept = kept_upload(jobs_dir / str(int(dry_run.id)))
    if kept is None or _stale(dry_run):
        raise ImportJobRefused("该预检的文件已导入或已过期，请重新上传。", status=409)
    with kept.open("rb") as stream:
        token = stash_upload(stream, kept.suffix)
    kept.unlink()
    name = (dry_run.params or {}).get("name", kept.name)
    return submit_job(
        TREE_IMPORT, {"upload": token, "name": name, "dry_run": False, "confirms": dry_run.id}, actor=actor
    )


def kept_upload(workdir: Path) -> Path | None:
    """The file a dry run kept in its folder for its confirmation, if it is still there."""
    return next((p for p in sorted(workdir.glob(f"{KEPT_UPLOAD}.*")) if p.is_file()), None)


def confirm_dry_run(session: Session, dry_run: Job, jobs_dir: Path, actor: str) -> Job:
    """Submit the real import of the file dry run `dry_run` checked, for the person who asked for the dry run.
    The kept file moves to the upload folder (the worker deletes it after the import), so a second click finds
    nothing to import."""
    params = dry_run.params or {}
    result = dry_run.result or {}
    if (
        dry_run.kind != IMPORT
        or not params.get("dry_run")
        or dry_run.status != "done"
        or not result.get("ok")
    ):
        raise ImportJobRefused("只有通过的预检才能确认导入。", status=409)
    if dry_run.created_by != actor:
        raise ImportJobRefused("只有上传该文件的人可以确认导入。")
    folder = jobs_dir / str(int(dry_run.id))
    kept = kept_upload(folder)
    if kept is None or _stale(dry_run):
        raise ImportJobRefused("该预检的文件已导入或已过期，请重新上传。", status=409)
    with kept.open("rb") as stream:
        token = stash_upload(stream, kept.suffix)
    kept.unlink()
    return submit_job(
        IMPORT,
        {"upload": token, "name": params.get("name", kept.name), "status": params.get("status", IN_REVIEW),
         "dry_run": False, "confirms": dry_run.id},
        actor=actor,
    )  # fmt: skip


def keep_dry_run_h() -> float:
    """How long a dry run's kept file waits for its confirmation (BANK_DRY_RUN_KEEP_H, default KEEP_DRY_RUN_H)."""
    return float(current_app.config.get("BANK_DRY_RUN_KEEP_H", KEEP_DRY_RUN_H)) if has_app_context() \
        else KEEP_DRY_RUN_H


def _stale(job: Job) -> bool:
    return job.finished_at is not None and utcnow() - job.finished_at > dt.timedelta(hours=keep_dry_run_h())


def discard_stale_dry_runs(session: Session, jobs_dir: Path, keep_h: float | None = None) -> int:
    """Delete the files dry runs (of items or a knowledge tree) kept for a confirmation nobody gave within `keep_h`
    hours (default: keep_dry_run_h()); returns how many went. It looks at the job folders that still hold such a
    file, so however many dry runs there were, every abandoned file is found; a folder whose job is gone (a
    database restored without it) is cleared too, a dry run still running never."""
    cutoff = utcnow() - dt.timedelta(hours=keep_dry_run_h() if keep_h is None else keep_h)
    kept: dict[int, Path] = {}
    if jobs_dir.is_dir():
        for folder in jobs_dir.iterdir():
            if folder.name.isdigit() and (path := kept_upload(folder)) is not None:
                kept[int(folder.name)] = path
    ids = sorted(kept)
    finished: dict[int, dt.datetime | None] = {}
    for start in range(0, len(ids), 500):
        for job_id, at in session.execute(select(Job.id, Job.finished_at).where(Job.id.in_(ids[start:start + 500]))):
            finished[job_id] = at
    session.commit()
    gone = 0
    for job_id, path in kept.items():
        if job_id in finished and (finished[job_id] is None or finished[job_id] >= cutoff):  # type: ignore[operator]
            continue
        path.unlink(missing_ok=True)
        gone += 1
    return gone


@housekeeping_step("bank.dry_runs", "过期未确认的导入预检文件")
def _discard_dry_runs(session: Session, app: Flask) -> int:
    return discard_stale_dry_runs(session, job_queue(app).jobs_dir, float(app.config["BANK_DRY_RUN_KEEP_H"]))


# ----- export


@job_handler(EXPORT, label="导出题库", roles=MANAGER_ROLES)
def export_job(ctx: JobContext, *, format: str, include_images: bool = True) -> dict[str, Any]:
    """Export every live item's current version; tables with images become one zip of the table and its images."""
    if format not in EXPORT_FORMATS:
        raise ExportError(f"不支持的导出格式 {format}：应为 xlsx、csv、json 或 zip (QTI)")
    ctx.progress(0.05, "正在读取题库")
    scratch = ctx.workdir / "export"
    scratch.mkdir()
    report, table = write_export_table(ctx.session, scratch / f"题库导出{EXPORT_FORMATS[format]}")
    ctx.session.commit()  # reading done: hold no snapshot while writing the archive
    ctx.check_cancelled()
    ctx.progress(0.7, "正在打包")
    output, kind = package_export(scratch, table, format, include_images, ctx.output)
    shutil.rmtree(scratch)
    size = output.stat().st_size
    return {
        "format": format,
        "items": report.items,
        "sets": report.sets,
        "media": report.media,
        "bytes": size,
        "lines": [
            f"已导出 {report.items} 道试题、{report.sets} 个题组、{report.media} 张图片：{kind}，"
            f"{size / 1024:.0f} KB，用时 {report.elapsed_s:.1f} 秒。",
            "导出包含答案，请妥善保管。",
        ],
    }


def write_export_table(session: Session, table: Path, *, include_retired: bool = False) -> tuple[ExportReport, Path]:
    """Export the bank to `table` (its format by extension) inside a scratch folder of its own: a table's images
    land beside it there (item_bank.exporting), for `package_export` to bundle."""
    # The bank knows people by id; the file names them, as an office reads it.
    people = {uid: name or username for uid, name, username in session.execute(
        select(User.id, User.display_name, User.username))}  # fmt: skip
    return export_items(session, table, include_retired=include_retired, people=people), table


def package_export(
    scratch: Path, table: Path, format: str, include_images: bool, output_for: Callable[[str], Path]
) -> tuple[Path, str]:
    """The one file an export hands over, named through `output_for` (a folder outside `scratch`): a table with
    images becomes one zip of the table and its image folder, anything else is the table itself. Returns the file
    and what it is, in words. The web's job and `examctl export-items` both end here."""
    images = [p for p in scratch.rglob("*") if p.is_file() and p != table]
    if format in ("xlsx", "csv") and images and include_images:
        output = output_for(f"{table.stem}_{format}.zip")
        write_archive(output, scratch, [table, *images])
        return output, f"压缩包（{FORMAT_LABELS[format]} 表格和图片文件夹）"
    output = output_for(table.name)
    if is_within(output, scratch):
        raise ExportError("导出文件不能写在被打包的文件夹中。")
    shutil.move(table, output)
    kind = FORMAT_LABELS[format]
    if images and not include_images:
        kind += "，不含图片文件"
    return output, kind


def write_archive(output: Path, base: Path, members: list[Path]) -> None:
    """Zip exactly `members` (files under `base`, listed before writing) into `output`, which lies outside
    `base`: the archive can never take itself in (an export once zipped its own growing file until the disk
    was full)."""
    if is_within(output, base):
        raise ExportError("导出文件不能写在被打包的文件夹中。")
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in members:
            archive.write(path, path.relative_to(base).as_posix())

"""Import and export (导入导出): each runs as a background job (exam_server/bank/jobs.py), never on the exam
server's event loop. An upload is stashed for the job and checked by a dry run; the person who uploaded it reads
the report and confirms, which imports the very file checked. An export is a job whose file is downloaded from
its job page. Only the blank template is written here: it is small and reads the tree alone."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank.jobs import EXPORT, EXPORT_FORMATS, FORMAT_LABELS, IMPORT, confirm_dry_run, kept_upload
from exam_server.bank.views.common import AUTHORS, BANK, found
from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import Job, job_queue, stash_upload, submit_job
from exam_server.jobs.queries import may_read
from item_bank.exporting import write_blank_template
from item_bank.importing import FORMATS, IMPORT_STATUSES
from item_bank.models import IN_REVIEW

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_CHOICES = {IN_REVIEW: "待审核（由另一位审题人审核通过）", "draft": "草稿（逐题提交审核）"}


def _page(http_status: int = 200, **context: Any) -> tuple[str, int]:
    html = render_template(
        "bank/exchange.html",
        statuses=[(s, STATUS_CHOICES[s]) for s in IMPORT_STATUSES],
        formats=FORMAT_LABELS,
        max_upload_mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024),
        **context,
    )
    return html, http_status


def _to_job(job: Job) -> WerkzeugResponse:
    return redirect(url_for("jobs.page", job_id=job.id))


@role_required(*BANK)
def exchange() -> tuple[str, int]:
    return _page()


@role_required(*AUTHORS)
def import_upload() -> WerkzeugResponse | tuple[str, int]:
    """Stash the upload and start its dry run; the job page shows its progress and then its report."""
    status = request.form.get("status", IN_REVIEW)
    if status not in IMPORT_STATUSES:
        flash("导入后的状态只能是“待审核”或“草稿”：导入的试题须由另一位审题人审核通过。")
        return _page(400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的文件")
        return _page(400)
    name = Path(upload.filename).name
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        flash(f"不支持的文件类型 {suffix or '(无扩展名)'}：应为 .xlsx .csv .json 或 .zip (QTI)")
        return _page(400)
    token = stash_upload(upload.stream, suffix)
    job = submit_job(IMPORT, {"upload": token, "name": name, "status": status, "dry_run": True},
                     actor=current_user.actor)  # fmt: skip
    return _to_job(job)


def _readable_import(job_id: int) -> Job:
    job = found(db.session.get(Job, job_id))
    if job.kind != IMPORT or not may_read(job, current_user.actor, current_user.has_role):
        abort(404, description="导入任务不存在，或您无权查看。")
    return job


@role_required(*BANK)
def import_report(job_id: int) -> tuple[str, int]:
    """A dry run's (or an import's) full report: counts, every problem with file/row/field, duplicates, hints;
    for the person who uploaded a file that passed, the button that imports it."""
    job = _readable_import(job_id)
    result = job.result or {}
    confirmable = (
        job.status == "done"
        and bool(job.params.get("dry_run"))
        and bool(result.get("ok"))
        and job.created_by == current_user.actor
        and kept_upload(job_queue().jobs_dir / str(job.id)) is not None
    )
    html = render_template("bank/import_report.html", job=job, result=result, confirmable=confirmable,
                           status_label=STATUS_CHOICES.get(job.params.get("status", ""), ""))  # fmt: skip
    return html, 200


@role_required(*AUTHORS)
def import_confirm(job_id: int) -> WerkzeugResponse:
    """Import the file a passed dry run checked (the dry run's own folder hands it to the new job)."""
    dry_run = _readable_import(job_id)
    return _to_job(confirm_dry_run(db.session, dry_run, job_queue().jobs_dir, current_user.actor))


@role_required(*BANK)
def export() -> WerkzeugResponse:
    """Start an export job; its file is downloaded from the job's page."""
    fmt = request.form.get("format", "")
    if fmt not in EXPORT_FORMATS:
        abort(400, description=f"不支持的导出格式 {fmt!r}：应为 {'、'.join(EXPORT_FORMATS)}")
    include_images = request.form.get("include_images", "1") == "1"
    job = submit_job(EXPORT, {"format": fmt, "include_images": include_images}, actor=current_user.actor)
    return _to_job(job)


@role_required(*BANK)
def template() -> WerkzeugResponse:
    with tempfile.TemporaryDirectory(prefix="item-template-") as folder:
        path = Path(folder) / "试题导入模板.xlsx"
        write_blank_template(db.session, path)
        data = io.BytesIO(path.read_bytes())
    return send_file(data, as_attachment=True, download_name=path.name, mimetype=XLSX_MIME)

"""Import and export (导入导出): an upload checked by a dry run then confirmed, exports and the blank template."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank.views.common import AUTHORS, BANK, MANAGERS, who
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.exchange.records import BankImportError
from item_bank.exporting import ExportError, export_items, write_blank_template
from item_bank.importing import IMPORT_STATUSES
from item_bank.models import DRAFT
from item_bank.versions import ItemError

EXPORT_MIMES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "json": "application/json",
    "zip": "application/zip",
}


def _upload_dir() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _page(http_status: int = 200, **context: Any) -> tuple[str, int]:
    html = render_template(
        "bank/exchange.html", statuses=IMPORT_STATUSES, can_approve=who().has_role(*MANAGERS), **context
    )
    return html, http_status


@role_required(*BANK)
def exchange() -> tuple[str, int]:
    return _page()


def _uploaded_file() -> tuple[Path, str, str] | None:
    """The file to import, its name and its token: a dry run's file when confirming, else the new upload."""
    token = request.form.get("token", "")
    if token:
        matches = [p for p in _upload_dir().glob(f"{token}.*") if token.isalnum()]
        if not matches:
            flash("上传的文件已过期，请重新上传")
            return None
        return matches[0], request.form.get("name", matches[0].name), token
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的文件")
        return None
    name = Path(upload.filename).name
    token = uuid.uuid4().hex
    path = _upload_dir() / f"{token}{Path(name).suffix.lower()}"
    upload.save(path)
    return path, name, token


@role_required(*AUTHORS)
def import_upload() -> tuple[str, int]:
    status = request.form.get("status", DRAFT)
    uploaded = _uploaded_file()
    if uploaded is None:
        return _page(400)
    path, name, token = uploaded
    dry_run = request.form.get("confirm") != "1"
    try:
        report = ops.run_import(db.session, path, who(), status=status, dry_run=dry_run, name=name)
    except BankImportError as exc:
        path.unlink(missing_ok=True)
        return _page(422, problems=exc.problems, name=name)
    except ItemError as exc:
        flash(str(exc))
        return _page(403)
    if not dry_run:
        path.unlink(missing_ok=True)
    return _page(report=report, token=token if dry_run else "", name=name, status=status)


@role_required(*BANK)
def export(fmt: str) -> WerkzeugResponse:
    if fmt not in EXPORT_MIMES:
        abort(404)
    # The table and its images go into a folder of their own; the zip is written beside that folder, never
    # inside the folder it archives (zipping its own growing file once filled the disk).
    workdir = Path(tempfile.mkdtemp(dir=_upload_dir()))
    folder = workdir / "export"
    folder.mkdir()
    path = folder / f"题库导出.{fmt}"
    try:
        export_items(db.session, path)
    except ExportError as exc:
        flash(str(exc))
        return redirect(url_for("bank.exchange"))
    if fmt in ("xlsx", "csv") and any(p.is_dir() for p in folder.iterdir()):
        # Images sit beside a table export; ship both in one zip.
        archive = shutil.make_archive(str(workdir / "题库导出"), "zip", folder)
        return send_file(
            archive, as_attachment=True, download_name=f"题库导出_{fmt}.zip", mimetype="application/zip"
        )
    return send_file(path, as_attachment=True, download_name=path.name, mimetype=EXPORT_MIMES[fmt])


@role_required(*BANK)
def template() -> WerkzeugResponse:
    path = Path(tempfile.mkdtemp(dir=_upload_dir())) / "试题导入模板.xlsx"
    write_blank_template(db.session, path)
    return send_file(path, as_attachment=True, download_name=path.name, mimetype=EXPORT_MIMES["xlsx"])

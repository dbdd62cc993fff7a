"""Report screens: the figures an account may see, as a page with plots and as a workbook (a job); the
certificate holders for subsidy claims; a centre's signed period file; the province's summary of every centre's
files, their upload, and the centres' registered keys. Thin: parse, authorise, call, render.

URL table:
  GET  /reports/                        figures (?from, to, level, centre)           centre_staff, province, police
  GET  /reports/plot/<kind>.<fmt>       distribution | trend as png | svg (same args) centre_staff, province, police
  GET  /reports/holders                 certificate holders (same args)               centre_staff, province, police
  POST /reports/workbook                the figures as .xlsx (a job)                  centre_staff, province, police
  GET  /reports/centre                  the centre's signed file: key, period form    centre_staff
  POST /reports/centre/export           download the signed file                      centre_staff
  GET  /reports/province                the sum of the centres' files, keys, upload   province, police
  POST /reports/province/import         import a centre's file (a job)                province
  POST /reports/province/keys           register a centre's public key                province
  POST /reports/province/workbook       the summary as .xlsx (a job)                  province, police
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.extensions import db
from exam_server.jobs import stash_upload, submit_job
from exam_server.organisations.models import Centre
from exam_server.organisations.scope import Scope, current_scope
from exam_server.reports import figures as F
from exam_server.reports import jobs as report_jobs
from exam_server.reports import operations, signing
from exam_server.reports.models import CentreReportKey
from exam_server.reports.plots import FORMATS, KINDS, plot
from exam_server.reports.tables import PERCENT, SCORE, breakdowns, extras, holders_table

blueprint = Blueprint("reports", __name__, url_prefix="/reports")

READERS = ("centre_staff", "province", "police")
PROVINCE_READERS = ("province", "police")
HOLDERS_SHOWN = 2000


def _today() -> dt.date:
    return dt.datetime.now(DISPLAY_ZONE).date()


def _args(source: Any) -> tuple[F.Period, int | None, str]:
    """The period (this year so far unless given), the level and the centre code asked for."""
    today = _today()
    start = source.get("from") or today.replace(month=1, day=1).isoformat()
    end = source.get("to") or today.isoformat()
    period = F.Period.parse(start, end)
    text = (source.get("level") or "").strip()
    try:
        level = F.check_level(int(text)) if text else None
    except ValueError:
        raise F.ReportError(f"等级无效：{text}（应为 1-5）。", field="等级") from None
    return period, level, (source.get("centre") or "").strip()


def _scope(centre_code: str) -> Scope:
    return report_jobs.report_scope(db.session, current_scope(), centre_code)


def _centres(scope: Scope) -> list[Centre]:
    return list(db.session.scalars(select(Centre).where(scope.centre_clause(Centre.id)).order_by(Centre.code)))


def cell(value: Any, kind: str) -> str:
    """A figure as the page shows it (the workbook keeps the number)."""
    if value is None:
        return "—"
    if kind == PERCENT:
        return f"{value * 100:.1f}%"
    if kind == SCORE:
        return f"{value:.1f}"
    return str(value)


@blueprint.get("/")
@role_required(*READERS)
def index() -> str:
    period, level, centre = _args(request.args)
    scope = _scope(centre)
    report = F.compute(db.session, scope, period, level)
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "level": level or "", "centre": centre}
    return render_template("reports/index.html", report=report, tables=breakdowns(report), extras=extras(report),
                           query=query, cell=cell, level_names=F.LEVEL_NAMES, centres=_centres(current_scope()),
                           scope=scope, kinds=KINDS)


@blueprint.get("/plot/<any(distribution, trend):kind>.<any(png, svg):fmt>")
@role_required(*READERS)
def plot_image(kind: str, fmt: str) -> Response:
    period, level, centre = _args(request.args)
    report = F.compute(db.session, _scope(centre), period, level)
    db.session.commit()
    return Response(plot(report, kind, fmt), mimetype=FORMATS[fmt], headers={"Cache-Control": "private, no-store"})


@blueprint.get("/holders")
@role_required(*READERS)
def holders() -> str:
    period, level, centre = _args(request.args)
    scope = _scope(centre)
    rows = F.holders(db.session, scope, period, level)
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "level": level or "", "centre": centre}
    return render_template("reports/holders.html", table=holders_table(rows[:HOLDERS_SHOWN]), total=len(rows),
                           query=query, scope=scope, level_names=F.LEVEL_NAMES, limit=HOLDERS_SHOWN)


@blueprint.post("/workbook")
@role_required(*READERS)
def workbook() -> WerkzeugResponse:
    period, level, centre = _args(request.form)
    _scope(centre)  # refused here, before a job is made, when the centre is not the account's to see
    job = submit_job(report_jobs.WORKBOOK, {"start": period.start.isoformat(), "end": period.end.isoformat(),
                                            "level": level, "holders": request.form.get("holders") == "1",
                                            "centre": centre or None}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


# ---------------------------------------------------------------- the centre's signed file


def _own_centre() -> Centre | None:
    centre_id = current_scope().own_centre_id
    return db.session.get(Centre, centre_id) if centre_id is not None else None


@blueprint.get("/centre")
@role_required("centre_staff")
def centre() -> str:
    own = _own_centre()
    public = fingerprint = None
    if own is not None:
        key = signing.centre_key(report_jobs.keys_folder(), own.code)
        public = signing.public_text(key)
        fingerprint = signing.parse_public(public)[1]
    today = _today()
    return render_template("reports/centre.html", centre=own, public=public, fingerprint=fingerprint,
                           start=today.replace(month=1, day=1).isoformat(), end=today.isoformat())


@blueprint.post("/centre/export")
@role_required("centre_staff")
def centre_export() -> Response:
    own = _own_centre()
    if own is None:
        raise F.ReportError("本账号不属于某一个鉴定中心，无法生成中心报送文件。")
    current_scope().check_write()
    period, _level, _centre = _args(request.form)
    data = operations.centre_file(db.session, own, period, report_jobs.keys_folder())
    name = f"centre-report-{own.code}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.json"
    return Response(data, mimetype="application/json", headers={"Content-Disposition": f"attachment; filename={name}"})


# ---------------------------------------------------------------- the province


@blueprint.get("/province")
@role_required(*PROVINCE_READERS)
def province() -> str:
    summary, rows = operations.province_summary(db.session)
    keys = list(db.session.scalars(select(CentreReportKey).where(CentreReportKey.active.is_(True))
                                   .order_by(CentreReportKey.centre_id)))
    report = {**summary, "period": {"from": "全部", "to": "全部"}}
    return render_template("reports/province.html", report=report, tables=breakdowns(report), extras=extras(report),
                           files=rows, keys=keys, centres=list(db.session.scalars(select(Centre).order_by(Centre.code))),
                           cell=cell, may_write=not current_scope().read_only)


@blueprint.post("/province/import")
@role_required("province")
def province_import() -> WerkzeugResponse:
    current_scope().check_write()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise F.ReportError("请选择鉴定中心的报送文件（.json）。", field="文件")
    name = Path(upload.filename).name
    job = submit_job(report_jobs.IMPORT, {"upload": stash_upload(upload.stream, ".json"), "name": name},
                     actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/province/keys")
@role_required("province")
def register_key() -> WerkzeugResponse:
    current_scope().check_write()
    code = request.form.get("centre", "")
    if not code.strip():
        raise F.ReportError("请选择鉴定中心。", field="鉴定中心")
    centre_row = operations.centre_by_code(db.session, code)
    key = operations.register_key(db.session, centre_row, request.form.get("public_key", ""), current_user.actor)
    flash(f"已登记 {centre_row.name}（{centre_row.code}）的报送公钥，指纹 {key.fingerprint}。")
    return redirect(url_for("reports.province"))


@blueprint.post("/province/workbook")
@role_required(*PROVINCE_READERS)
def province_workbook() -> WerkzeugResponse:
    start, end = request.form.get("from") or None, request.form.get("to") or None
    if start or end:
        F.Period.parse(start, end)
    job = submit_job(report_jobs.PROVINCE_WORKBOOK, {"start": start, "end": end}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


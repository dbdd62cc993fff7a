"""Screens for applications: the province's windows and rules, units' entry, import and 初审, the centre's 复审,
and the public page a candidate applies on through a unit's link.

URL table (scope: a unit's staff see their unit's applications, a centre's its units', the province all):
  GET  /province/windows                 申报时间 per level and part                       province
  POST /province/windows                 open a level's part for applications             province
  POST /province/windows/<w>             change a window's dates                          province
  GET  /applications/rules               eligibility rules of every level, in words and JSON   staff who review, police
  POST /applications/rules/<level>       save a level's rules (JSON)                      province
  GET  /applications                     the scope's applications, filters, batch review  unit, centre, province, police
  POST /applications/review              batch 初审 / 复审 with a summary                  unit (初审), centre, province (复审)
  GET  /applications/<a>                 one application: facts, decisions in words, history, review, photo
  POST /applications/<a>/review          初审 / 复审 of one application
  GET  /applications/<a>/photo           the ID photo (also for the sittings package's pages)
  POST /applications/<a>/photo           upload / replace the ID photo                    unit, centre, province
  GET  /applications/new                 a unit's entry form                               unit, centre, province
  POST /applications/new                 submit it
  GET  /applications/import              upload page, the template and the unit's link    unit, centre, province
  POST /applications/import              start the import job (/jobs/<id>)
  POST /applications/photos              start the photos job (a zip of <身份证号>.jpg|png)
  GET  /applications/template.xlsx       the Excel template
  POST /applications/link                renew a unit's link (the old one stops working)
  GET  /apply/<token>                    public: the unit's application form               anyone
  POST /apply/<token>                    public: apply (with the ID photo)
  GET  /apply-status, POST /apply-status public: a candidate's applications, by ID number and phone
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.applications import eligibility, queries
from exam_server.applications import operations as ops
from exam_server.applications.excel import write_template
from exam_server.applications.intake import COLUMNS, OPTIONAL, local_today, parse_date
from exam_server.applications.jobs import IMPORT, PHOTOS
from exam_server.applications.levels import LEVEL_NAMES, LEVELS, PART_LABELS, PARTS, level_name
from exam_server.applications.models import CHANNELS, Application, ApplicationWindow, UnitApplicationLink
from exam_server.applications.review import CENTRE_STAGE, STAGE_LABELS, STATUS_LABELS, UNIT_STAGE
from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import stash_upload, submit_job
from exam_server.organisations.models import PilotUnit
from exam_server.organisations.scope import Scope, scope_for
from item_bank.kernel import DomainError, user_actor

blueprint = Blueprint("applications", __name__)

PROVINCE = ("province",)
READERS = ("pilot_unit", "centre_staff", "province", "police")
ENTRY = ("pilot_unit", "centre_staff", "province")
REVIEWERS = ("pilot_unit", "centre_staff", "province")
STAGE_ROLES = {UNIT_STAGE: ("pilot_unit",), CENTRE_STAGE: ("centre_staff", "province")}
MAX_PHOTO_UPLOAD = 3 * 1024 * 1024


def _scope() -> Scope:
    return scope_for(current_user.user, db.session)


def _labels() -> dict[str, Any]:
    return {"level_name": level_name, "status_labels": STATUS_LABELS, "part_labels": PART_LABELS,
            "channels": CHANNELS, "stage_labels": STAGE_LABELS}


def _visible_units(scope: Scope) -> list[PilotUnit]:
    return list(db.session.scalars(select(PilotUnit).where(PilotUnit.active.is_(True), scope.unit_clause(PilotUnit.id))
                                   .order_by(PilotUnit.code)))


def _chosen_unit(scope: Scope) -> PilotUnit:
    """The unit a form acts for: the account's own, or the one chosen among those it sees."""
    units = _visible_units(scope)
    value = request.form.get("unit_id", "").strip()
    if value.isdigit():
        unit = db.session.get(PilotUnit, int(value))
        if unit is not None:
            scope.check_unit(unit.id, "试点单位")
            return unit
    if len(units) == 1:
        return units[0]
    raise ops.ApplicationError("请选择试点单位" if units else "您的账号没有可以申报的试点单位", code="no_unit")


def _application(application_id: int, scope: Scope) -> Application:
    application = db.session.get(Application, application_id) or abort(404)
    scope.check_unit(application.unit_id, "申请")
    return application


def _date_field(name: str, required: bool = True) -> Any:
    value = request.form.get(name, "").strip()
    if not value:
        if required:
            raise ops.ApplicationError(f"请填写{ {'opens_on': '开始日期', 'closes_on': '截止日期'}.get(name, '日期') }",
                                       code="bad_window")
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise ops.ApplicationError(str(exc), code="bad_window") from None


# ---------------------------------------------------------------- windows and rules (the province)


def _windows_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("applications/windows.html", windows=ops.windows(db.session), levels=LEVELS,
                           parts=PARTS, today=local_today(), error=error, **_labels()), status


@blueprint.get("/province/windows")
@role_required(*PROVINCE)
def windows() -> tuple[str, int]:
    return _windows_page()


@blueprint.post("/province/windows")
@role_required(*PROVINCE)
def open_window() -> WerkzeugResponse | tuple[str, int]:
    try:
        _scope().check_write()
        level = int(request.form.get("level", "0") or 0)
        parts = [p for p in request.form.getlist("part") if p in PARTS] or list(PARTS)
        opens_on, closes_on = _date_field("opens_on"), _date_field("closes_on")
        exam_on = _date_field("exam_on", required=False)
        for part in parts:
            ops.open_window(db.session, level=level, part=part, opens_on=opens_on, closes_on=closes_on,
                            exam_on=exam_on, actor=current_user.actor)
    except DomainError as exc:
        return _windows_page(exc.message, exc.status)
    flash(f"已开放{level_name(level)}申报：{opens_on} 至 {closes_on}（{'、'.join(PART_LABELS[p] for p in parts)}）。")
    return redirect(url_for("applications.windows"))


@blueprint.post("/province/windows/<int:window_id>")
@role_required(*PROVINCE)
def change_window(window_id: int) -> WerkzeugResponse | tuple[str, int]:
    window = db.session.get(ApplicationWindow, window_id) or abort(404)
    try:
        _scope().check_write()
        ops.change_window(db.session, window, opens_on=_date_field("opens_on"), closes_on=_date_field("closes_on"),
                          exam_on=_date_field("exam_on", required=False), actor=current_user.actor)
    except DomainError as exc:
        return _windows_page(exc.message, exc.status)
    flash(f"已修改{level_name(window.level)}{PART_LABELS.get(window.part, window.part)}的申报时间。")
    return redirect(url_for("applications.windows"))


def _rules_page(error: str | None = None, status: int = 200, drafts: dict[int, str] | None = None
                ) -> tuple[str, int]:
    levels = []
    for level in LEVELS:
        config = ops.rules_for(db.session, level)
        levels.append({"level": level, "name": level_name(level), "rules": eligibility.describe(config),
                       "json": (drafts or {}).get(level) or json.dumps(config, ensure_ascii=False, indent=2)})
    return render_template("applications/rules.html", levels=levels, rule_names=eligibility.RULES,
                           may_edit=current_user.has_role(*PROVINCE), error=error, **_labels()), status


@blueprint.get("/applications/rules")
@role_required(*READERS)
def rules() -> tuple[str, int]:
    return _rules_page()


@blueprint.post("/applications/rules/<int:level>")
@role_required(*PROVINCE)
def save_rules(level: int) -> WerkzeugResponse | tuple[str, int]:
    if level not in LEVELS:
        abort(404)
    text = request.form.get("config", "")
    try:
        _scope().check_write()
        ops.save_rules(db.session, level, text, current_user.actor)
    except DomainError as exc:
        return _rules_page(f"{level_name(level)}：{exc.message}", exc.status, {level: text})
    flash(f"已保存{level_name(level)}的申报条件。")
    return redirect(url_for("applications.rules"))


# ---------------------------------------------------------------- lists and review


@blueprint.get("/applications")
@role_required(*READERS)
def index() -> tuple[str, int]:
    scope = _scope()
    status = request.args.get("status") or None
    if status not in STATUS_LABELS:
        status = None
    level = request.args.get("level", "")
    unit = request.args.get("unit", "")
    page = request.args.get("page", "1")
    rows, total = queries.list_applications(
        db.session, scope, status=status, level=int(level) if level.isdigit() else None,
        unit_id=int(unit) if unit.isdigit() else None, search=request.args.get("q", "").strip()[:40],
        page=int(page) if page.isdigit() else 1)
    stages = [stage for stage, roles in STAGE_ROLES.items() if current_user.has_role(*roles) and not scope.read_only]
    return render_template("applications/index.html", rows=rows, total=total, scope=scope,
                           counts=queries.status_counts(db.session, scope), units=_visible_units(scope),
                           stages=stages, levels=LEVELS, args=request.args, **_labels()), 200


def _stage() -> str:
    stage = request.form.get("stage", "")
    if stage not in STAGE_ROLES:
        raise ops.ApplicationError("请选择初审或复审", code="unknown_stage")
    if not current_user.has_role(*STAGE_ROLES[stage]):
        abort(403, description=f"您的账号不能做{STAGE_LABELS[stage]}")
    return stage


@blueprint.post("/applications/review")
@role_required(*REVIEWERS)
def review_batch() -> WerkzeugResponse:
    try:
        stage = _stage()
        approve = request.form.get("decision") == "approve"
        ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
        if not ids:
            raise ops.ApplicationError("没有选中任何申请", code="nothing_selected")
        summary = ops.review_batch(db.session, ids, stage=stage, approve=approve,
                                   reason=request.form.get("reason", ""), actor=current_user.actor, scope=_scope())
        flash(summary.words(stage, approve))
    except DomainError as exc:
        flash(exc.message)
    return redirect(request.form.get("back") if (request.form.get("back") or "").startswith("/applications")
                    else url_for("applications.index"))


def _detail_page(application: Application, scope: Scope, error: str | None = None,
                 status: int = 200) -> tuple[str, int]:
    stages = [stage for stage, roles in STAGE_ROLES.items() if current_user.has_role(*roles) and not scope.read_only]
    return render_template("applications/detail.html", a=application, stages=stages, error=error,
                           history=queries.history(db.session, application), **_labels()), status


@blueprint.get("/applications/<int:application_id>")
@role_required(*READERS)
def detail(application_id: int) -> tuple[str, int]:
    scope = _scope()
    return _detail_page(_application(application_id, scope), scope)


@blueprint.post("/applications/<int:application_id>/review")
@role_required(*REVIEWERS)
def review(application_id: int) -> WerkzeugResponse | tuple[str, int]:
    scope = _scope()
    application = _application(application_id, scope)
    try:
        stage = _stage()
        approve = request.form.get("decision") == "approve"
        ops.review(db.session, application, stage=stage, approve=approve, reason=request.form.get("reason", ""),
                   actor=current_user.actor, scope=scope)
    except DomainError as exc:
        db.session.rollback()
        return _detail_page(application, scope, exc.message, exc.status)
    flash(f"申请 {application.id}（{application.name}）：{STATUS_LABELS[application.status]}。")
    return redirect(url_for("applications.detail", application_id=application.id))


@blueprint.get("/applications/<int:application_id>/photo")
@role_required(*READERS)
def photo(application_id: int) -> WerkzeugResponse:
    application = _application(application_id, _scope())
    return photo_response(application)


def photo_response(application: Application) -> WerkzeugResponse:
    """The application's ID photo as a response (404 without one); for other packages' pages too (tickets,
    the proctor's view), which check who may see it first."""
    if application.photo is None:
        abort(404, description="这份申请还没有证件照")
    response = send_file(io.BytesIO(application.photo.data), mimetype=application.photo.mime)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _upload_bytes(field: str) -> tuple[str, bytes] | None:
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        return None
    data = upload.stream.read(MAX_PHOTO_UPLOAD + 1)
    if len(data) > MAX_PHOTO_UPLOAD:
        raise ops.ApplicationError(f"证件照 {upload.filename} 太大", code="photo_refused")
    return Path(upload.filename).name, data


@blueprint.post("/applications/<int:application_id>/photo")
@role_required(*ENTRY)
def upload_photo(application_id: int) -> WerkzeugResponse | tuple[str, int]:
    scope = _scope()
    application = _application(application_id, scope)
    try:
        upload = _upload_bytes("photo")
        if upload is None:
            raise ops.ApplicationError("请选择证件照文件（JPEG 或 PNG）", code="photo_refused")
        ops.set_photo(db.session, application, *upload, actor=current_user.actor, scope=scope)
    except DomainError as exc:
        db.session.rollback()
        return _detail_page(application, scope, exc.message, exc.status)
    flash("已保存证件照。")
    return redirect(url_for("applications.detail", application_id=application.id))


# ---------------------------------------------------------------- a unit's entry, import and link


def _form_row() -> dict[str, Any]:
    return {column: request.form.get(column, "").strip() for column in (*COLUMNS, *OPTIONAL)}


def _new_page(error: str | None = None, status: int = 200, row: dict[str, Any] | None = None,
              problems: list[ops.Problem] | None = None) -> tuple[str, int]:
    scope = _scope()
    return render_template("applications/new.html", units=_visible_units(scope), all_units=_all_units(),
                           row=row or {}, error=error, problems=problems or [], levels=LEVEL_NAMES,
                           **_labels()), status


def _all_units() -> list[PilotUnit]:
    return list(db.session.scalars(select(PilotUnit).where(PilotUnit.active.is_(True)).order_by(PilotUnit.name)))


@blueprint.get("/applications/new")
@role_required(*ENTRY)
def new() -> tuple[str, int]:
    return _new_page()


@blueprint.post("/applications/new")
@role_required(*ENTRY)
def create() -> WerkzeugResponse | tuple[str, int]:
    scope = _scope()
    row = _form_row()
    try:
        unit = _chosen_unit(scope)
        application = ops.submit_application(db.session, unit, row, channel="screen", actor=current_user.actor,
                                              scope=scope, photo=_upload_bytes("photo"))
    except ops.ApplicationError as exc:
        return _new_page(exc.message, exc.status, row, exc.problems)
    except DomainError as exc:
        return _new_page(exc.message, exc.status, row)
    flash(f"已受理 {application.name} 的{level_name(application.level)}申请（编号 {application.id}），待初审。")
    return redirect(url_for("applications.detail", application_id=application.id))


def _import_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    scope = _scope()
    units = _visible_units(scope)
    links = {link.unit_id: link for link in db.session.scalars(
        select(UnitApplicationLink).where(UnitApplicationLink.unit_id.in_([u.id for u in units])))}
    return render_template("applications/import.html", units=units, links=links, error=error,
                           may_write=not scope.read_only, **_labels()), status


@blueprint.get("/applications/import")
@role_required(*ENTRY)
def import_page() -> tuple[str, int]:
    return _import_page()


def _submit_unit_upload(kind: str, suffix: str, missing: str, wrong_type: str) -> WerkzeugResponse | tuple[str, int]:
    """Stash the unit's uploaded `suffix` file and start the `kind` job on it; refusals on the import page."""
    scope = _scope()
    try:
        scope.check_write()
        unit = _chosen_unit(scope)
    except DomainError as exc:
        return _import_page(exc.message, exc.status)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_page(missing, 400)
    name = Path(upload.filename).name
    if Path(name).suffix.lower() != suffix:
        return _import_page(f"{name} {wrong_type}", 400)
    token = stash_upload(upload.stream, suffix)
    job = submit_job(kind, {"upload": token, "name": name, "unit_id": unit.id}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/applications/import")
@role_required(*ENTRY)
def import_upload() -> WerkzeugResponse | tuple[str, int]:
    return _submit_unit_upload(IMPORT, ".xlsx", "请选择要导入的 Excel 文件（.xlsx）", "不是 .xlsx 文件：请使用申请模板")


@blueprint.post("/applications/photos")
@role_required(*ENTRY)
def import_photos() -> WerkzeugResponse | tuple[str, int]:
    return _submit_unit_upload(PHOTOS, ".zip", "请选择照片压缩包（.zip）",
                               "不是 .zip 文件：请把以身份证号命名的照片打包成 zip")


@blueprint.get("/applications/template.xlsx")
@role_required(*ENTRY)
def template() -> WerkzeugResponse:
    buffer = io.BytesIO()
    write_template(buffer)
    buffer.seek(0)
    return send_file(buffer, as_attachment=True, download_name="鉴定申请导入模板.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@blueprint.post("/applications/link")
@role_required(*ENTRY)
def renew_link() -> WerkzeugResponse | tuple[str, int]:
    scope = _scope()
    try:
        scope.check_write()
        unit = _chosen_unit(scope)
        ops.unit_link(db.session, unit, actor=current_user.actor, renew=request.form.get("renew") == "1")
    except DomainError as exc:
        return _import_page(exc.message, exc.status)
    flash(f"{unit.name} 的申请链接已生成。" if request.form.get("renew") != "1" else f"{unit.name} 的申请链接已更换，旧链接失效。")
    return redirect(url_for("applications.import_page"))


# ---------------------------------------------------------------- the public link


def _apply_page(unit: PilotUnit, token: str, error: str | None = None, status: int = 200,
                row: dict[str, Any] | None = None, problems: list[ops.Problem] | None = None,
                done: Application | None = None) -> tuple[str, int]:
    return render_template("applications/apply.html", unit=unit, token=token, row=row or {}, error=error,
                           problems=problems or [], done=done, all_units=_all_units(), levels=LEVEL_NAMES,
                           **_labels()), status


@blueprint.get("/apply/<token>")
def apply_form(token: str) -> tuple[str, int]:
    unit = ops.unit_by_token(db.session, token) or abort(404, description="申请链接无效或已更换，请向培训单位索取新链接。")
    return _apply_page(unit, token)


@blueprint.post("/apply/<token>")
def apply(token: str) -> tuple[str, int]:
    unit = ops.unit_by_token(db.session, token) or abort(404, description="申请链接无效或已更换，请向培训单位索取新链接。")
    row = _form_row()
    try:
        photo_upload = _upload_bytes("photo")
        if photo_upload is None:
            raise ops.ApplicationError("请上传本人证件照（JPEG 或 PNG）", code="photo_required")
        application = ops.submit_application(db.session, unit, row, channel="link",
                                              actor=user_actor(f"申请人{row.get('身份证号', '')}"), photo=photo_upload)
    except ops.ApplicationError as exc:
        return _apply_page(unit, token, exc.message, exc.status, row, exc.problems)
    except DomainError as exc:
        return _apply_page(unit, token, exc.message, exc.status, row)
    return _apply_page(unit, token, done=application)


@blueprint.route("/apply-status", methods=["GET", "POST"])
def apply_status() -> tuple[str, int]:
    found: list[Application] | None = None
    if request.method == "POST":
        found = queries.for_person(db.session, request.form.get("id_number", "")[:18],
                                   request.form.get("phone", "")[:11])
    return render_template("applications/status.html", found=found, **_labels()), 200

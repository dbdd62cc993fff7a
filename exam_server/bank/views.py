"""The item bank's screens (题库) and JSON API: the whole URL table of the bank in one place.

Screens (server-rendered, Chinese):      JSON API (same operations):
  /bank/items            search            GET  /bank/api/items
  /bank/items/new        editor            POST /bank/api/items
  /bank/items/<id>       detail, history   GET  /bank/api/items/<id>
  /bank/items/<id>/edit  new version       PUT  /bank/api/items/<id>
  /bank/items/<id>/diff  side by side      POST /bank/api/versions/<vid>/transition
  /bank/review           reviewer's queue  POST /bank/api/review/bulk
  /bank/tree             knowledge tree    POST /bank/api/preview   (candidate view of a draft)
  /bank/coverage         coverage table    GET  /bank/api/areas
  /bank/exchange         import / export   POST /bank/media        (image upload)
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank.schemas import (
    DraftError,
    draft_form_values,
    draft_from_form,
    draft_from_json,
    item_json,
    version_json,
)
from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.extensions import db
from item_bank.coverage import coverage, levels_in_bank
from item_bank.exchange.flat import TYPE_LABELS
from item_bank.exchange.records import BankImportError
from item_bank.exporting import ExportError, export_items, write_template
from item_bank.importing import IMPORT_STATUSES
from item_bank.media import MediaError, get_media
from item_bank.models import DRAFT, IN_REVIEW, Item, ItemSet, ItemVersion, KnowledgeArea
from item_bank.review import STATUS_LABELS, TRANSITIONS, ReviewError, allowed_actions, comments_for
from item_bank.search import UNCLASSIFIED, ItemQuery, search_items, status_counts
from item_bank.search import review_queue as queue_of
from item_bank.tree import (
    KINDS,
    PART_LABELS,
    TreeError,
    create_area,
    ensure_standard_tree,
    merge_areas,
    move_area,
    set_weight_table,
    tree_rows,
    update_area,
)
from item_bank.types import ContentProblem, item_type
from item_bank.versions import (
    FIELD_LABELS,
    ItemDraft,
    ItemError,
    ItemValidationError,
    content_of,
    create_item_set,
    diff_versions,
    form_usage,
    history,
    set_children,
    update_item_set,
    validate_draft,
)

blueprint = Blueprint("bank", __name__, url_prefix="/bank")

BANK = ("author", "reviewer", "bank_manager")
EDIT_TYPES = ("single", "multiple", "judge", "fill", "short", "essay")
EXPORT_MIMES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "json": "application/json",
    "zip": "application/zip",
}


# ----- helpers -----


def _who() -> Any:
    return ops.reviewer_of(current_user)


def _item_or_404(external_id: str) -> Item:
    item = db.session.scalar(select(Item).where(Item.external_id == external_id))
    if item is None:
        abort(404)
    return item


def _version_or_404(version_id: int) -> ItemVersion:
    version = db.session.get(ItemVersion, version_id)
    if version is None:
        abort(404)
    return version


def _areas(level: int | None = None) -> list[Any]:
    """The tree rows for area pickers (every level's tree when `level` is None)."""
    ensure_standard_tree(db.session, _who().actor)
    db.session.commit()
    pairs = db.session.execute(select(KnowledgeArea.level, KnowledgeArea.part).distinct()).all()
    rows = []
    for lv, part in sorted(pairs, key=lambda p: (p[0] or 0, p[1])):
        if level is None or lv == level:
            rows.extend(tree_rows(db.session, lv, part, counts=False))
    return rows


def _user_names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def _candidate_view(version: ItemVersion | ItemDraft) -> dict[str, Any]:
    content = content_of(version) if isinstance(version, ItemVersion) else version.as_content()
    view = item_type(content.type).render(content)
    view["points"] = content.points
    view["type_label"] = TYPE_LABELS.get(content.type, content.type)
    for m in view.get("media", []):
        m["url"] = url_for("bank.media", digest=m["sha256"])
    return view


def _stimulus(version: ItemVersion | ItemDraft) -> dict[str, Any] | None:
    if not version.item_set_id:
        return None
    item_set = db.session.get(ItemSet, version.item_set_id)
    if item_set is None:
        return None
    return {
        "title": item_set.title,
        "stimulus": item_set.stimulus,
        "media": [
            {"name": m.get("name"), "url": url_for("bank.media", digest=m["sha256"])}
            for m in item_set.media or []
        ],
    }


def _problems_by_field(problems: list[ContentProblem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.field, []).append(p.reason)
    return out


def _json_error(message: str, status: int, **extra: Any) -> tuple[WerkzeugResponse, int]:
    return jsonify({"ok": False, "error": message, **extra}), status


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "TYPE_LABELS": TYPE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "PART_LABELS": PART_LABELS,
        "FIELD_LABELS": FIELD_LABELS,
        "EDIT_TYPES": EDIT_TYPES,
    }


# ----- search -----


@blueprint.get("/items")
@role_required(*BANK)
def items() -> str:
    query = ItemQuery.from_args(request.args)
    if request.args.get("mine") == "1":
        query.author_id = current_user.user.id
    result = search_items(db.session, query)
    return render_template(
        "bank/items.html",
        result=result,
        query=query,
        areas=_areas(),
        counts=status_counts(db.session),
        authors=_user_names({r.author_id for r in result.rows}),
        UNCLASSIFIED=UNCLASSIFIED,
    )


# ----- editor -----


def _editor(
    draft: ItemDraft,
    *,
    item: Item | None = None,
    base_version_id: int | None = None,
    problems: list[ContentProblem] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    sets = db.session.scalars(select(ItemSet).order_by(ItemSet.id.desc()).limit(200)).all()
    return (
        render_template(
            "bank/editor.html",
            item=item,
            values=draft_form_values(draft),
            base_version_id=base_version_id,
            problems=_problems_by_field(problems or []),
            problem_list=problems or [],
            areas=_areas(),
            sets=sets,
            preview=_candidate_view(draft) if draft.stem else None,
        ),
        status,
    )


@blueprint.get("/items/new")
@role_required("author", "bank_manager")
def new_item() -> tuple[str, int]:
    item_type_name = request.args.get("type", "single")
    draft = ItemDraft(type=item_type_name if item_type_name in EDIT_TYPES else "single", stem="")
    if draft.type == "judge":
        draft.content["options"] = ["正确", "错误"]
    area = request.args.get("area", "")
    draft.knowledge_area_id = int(area) if area.isdigit() else None
    item_set = request.args.get("set", "")
    draft.item_set_id = int(item_set) if item_set.isdigit() else None
    return _editor(draft)


@blueprint.post("/items")
@role_required("author", "bank_manager")
def create() -> WerkzeugResponse | tuple[str, int]:
    try:
        draft = draft_from_form(request.form)
    except DraftError as exc:
        flash(str(exc))
        return redirect(url_for("bank.new_item"))
    try:
        version = ops.save_item(db.session, draft, _who(), submit=request.form.get("submit") == "1")
    except ItemValidationError as exc:
        return _editor(draft, problems=exc.problems, status=422)
    except (ItemError, ReviewError) as exc:
        return _editor(draft, problems=[ContentProblem("-", str(exc))], status=409)
    flash(
        f"已保存试题 {version.item.external_id} 第 {version.version_no} 版"
        + ("并提交审核" if version.status == IN_REVIEW else "（草稿）")
    )
    return redirect(url_for("bank.item_detail", external_id=version.item.external_id))


@blueprint.get("/items/<external_id>/edit")
@role_required("author", "bank_manager")
def edit_item(external_id: str) -> tuple[str, int]:
    item = _item_or_404(external_id)
    versions = history(db.session, item)
    latest = versions[-1]
    return _editor(ItemDraft.from_version(latest), item=item, base_version_id=latest.id)


@blueprint.post("/items/<external_id>")
@role_required("author", "bank_manager")
def revise(external_id: str) -> WerkzeugResponse | tuple[str, int]:
    item = _item_or_404(external_id)
    base = request.form.get("base_version_id", "")
    try:
        draft = draft_from_form(request.form)
    except DraftError as exc:
        flash(str(exc))
        return redirect(url_for("bank.edit_item", external_id=external_id))
    try:
        version = ops.save_item(
            db.session,
            draft,
            _who(),
            item=item,
            base_version_id=int(base) if base.isdigit() else None,
            submit=request.form.get("submit") == "1",
        )
    except ItemValidationError as exc:
        return _editor(
            draft,
            item=item,
            base_version_id=int(base) if base.isdigit() else None,
            problems=exc.problems,
            status=422,
        )
    except (ItemError, ReviewError) as exc:
        return _editor(draft, item=item, problems=[ContentProblem("-", str(exc))], status=409)
    flash(
        f"已保存为第 {version.version_no} 版" + ("并提交审核" if version.status == IN_REVIEW else "（草稿）")
    )
    return redirect(url_for("bank.item_detail", external_id=external_id))


# ----- detail, history, diff -----


@blueprint.get("/items/<external_id>")
@role_required(*BANK)
def item_detail(external_id: str) -> str:
    item = _item_or_404(external_id)
    versions = history(db.session, item)
    shown_no = request.args.get("v", "")
    shown = next((v for v in versions if str(v.version_no) == shown_no), versions[-1])
    who = _who()
    area = db.session.get(KnowledgeArea, shown.knowledge_area_id) if shown.knowledge_area_id else None
    return render_template(
        "bank/item.html",
        item=item,
        versions=versions,
        shown=shown,
        view=_candidate_view(shown),
        stimulus=_stimulus(shown),
        area=area,
        actions=allowed_actions(shown, who),
        comments=comments_for(db.session, [v.id for v in versions]),
        usage=form_usage(db.session, [v.id for v in versions]),
        names=_user_names({v.author_id for v in versions} | {v.reviewer_id for v in versions}),
        can_edit=who.has_role("author", "bank_manager") and any(v.status != "retired" for v in versions),
        can_tag=who.has_role("reviewer", "bank_manager"),
        areas=_areas() if who.has_role("reviewer", "bank_manager") else [],
        problems=item_type(shown.type).validate(content_of(shown)),
    )


@blueprint.get("/items/<external_id>/diff")
@role_required(*BANK)
def diff(external_id: str) -> str:
    item = _item_or_404(external_id)
    versions = {v.version_no: v for v in history(db.session, item)}
    newest = max(versions)
    b = versions.get(request.args.get("b", type=int) or newest) or versions[newest]
    a = versions.get(request.args.get("a", type=int) or max(1, b.version_no - 1)) or versions[1]
    return render_template(
        "bank/diff.html",
        item=item,
        a=a,
        b=b,
        diffs=diff_versions(db.session, a, b),
        versions=sorted(versions),
    )


@blueprint.post("/versions/<int:version_id>/<action>")
@role_required(*BANK)
def act(version_id: int, action: str) -> WerkzeugResponse:
    version = _version_or_404(version_id)
    try:
        ops.review(db.session, version, action, _who(), request.form.get("comment", ""))
        flash(f"{version.item.external_id} 第 {version.version_no} 版：{STATUS_LABELS.get(version.status)}")
    except ReviewError as exc:
        flash(f"操作未完成：{exc}")
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("bank.item_detail", external_id=version.item.external_id, v=version.version_no))


@blueprint.post("/versions/<int:version_id>/tag")
@role_required("reviewer", "bank_manager")
def tag_version(version_id: int) -> WerkzeugResponse:
    version = _version_or_404(version_id)
    raw = request.form.get("knowledge_area_id", "")
    try:
        ops.tag(db.session, version, int(raw) if raw.isdigit() else None, _who())
        flash("已更新知识点")
    except ItemError as exc:
        flash(f"未能归类：{exc}")
    return redirect(url_for("bank.item_detail", external_id=version.item.external_id, v=version.version_no))


# ----- review queue -----


@blueprint.get("/review")
@role_required("reviewer", "bank_manager")
def review_queue() -> str:
    query = ItemQuery.from_args(request.args)
    result = queue_of(db.session, query)
    versions = {
        v.id: v
        for v in db.session.scalars(
            select(ItemVersion).where(ItemVersion.id.in_([r.version_id for r in result.rows]))
        )
    }
    return render_template(
        "bank/review.html",
        result=result,
        query=query,
        versions=versions,
        views={vid: _candidate_view(v) for vid, v in versions.items()},
        comments=comments_for(db.session, list(versions)),
        authors=_user_names({r.author_id for r in result.rows}),
        me=current_user.user.id,
        areas=_areas(),
    )


@blueprint.post("/review/bulk")
@role_required("reviewer", "bank_manager")
def bulk() -> WerkzeugResponse:
    ids = [int(v) for v in request.form.getlist("version_id") if v.isdigit()]
    action = request.form.get("action", "")
    try:
        result = ops.bulk_review(db.session, ids, action, _who(), request.form.get("comment", ""))
        label = {t.action: t.label for t in TRANSITIONS}.get(action, action)
        flash(
            f"{label}：完成 {len(result.done)} 题"
            + (f"，{len(result.refused)} 题未处理" if result.refused else "")
        )
        for vid, reason in result.refused[:20]:
            flash(f"版本 {vid}：{reason}")
    except ReviewError as exc:
        flash(str(exc))
    return redirect(url_for("bank.review_queue"))


# ----- knowledge tree -----


@blueprint.get("/tree")
@role_required(*BANK)
def tree() -> str:
    ensure_standard_tree(db.session, _who().actor)
    db.session.commit()
    level = request.args.get("level", 5, type=int)
    part = request.args.get("part", "theory")
    rows = tree_rows(db.session, level, part)
    return render_template(
        "bank/tree.html",
        rows=rows,
        level=level,
        part=part,
        kinds=KINDS,
        total_share=sum(r.weight or 0 for r in rows),
        can_manage=_who().has_role("bank_manager"),
        levels=levels_in_bank(db.session),
    )


def _tree_redirect(level: Any, part: Any) -> WerkzeugResponse:
    return redirect(url_for("bank.tree", level=level or 5, part=part or "theory"))


@blueprint.post("/tree/areas")
@role_required("bank_manager")
def tree_create() -> WerkzeugResponse:
    f = request.form
    parent = f.get("parent_id", "")
    try:
        area = create_area(
            db.session,
            level=int(f.get("level", 5)),
            part=f.get("part", "theory"),
            code=f.get("code", ""),
            name=f.get("name", ""),
            kind=f.get("kind", "知识点"),
            parent_id=int(parent) if parent.isdigit() else None,
            actor=_who().actor,
        )
        db.session.commit()
        flash(f"已新增知识点 {area.code} {area.name}")
    except TreeError as exc:
        db.session.rollback()
        flash(f"未能新增：{exc}")
    return _tree_redirect(f.get("level"), f.get("part"))


@blueprint.post("/tree/areas/<int:area_id>")
@role_required("bank_manager")
def tree_update(area_id: int) -> WerkzeugResponse:
    area = db.session.get(KnowledgeArea, area_id)
    if area is None:
        abort(404)
    f = request.form
    op = f.get("op", "update")
    level, part = area.level, area.part
    try:
        if op == "update":
            update_area(
                db.session,
                area,
                actor=_who().actor,
                name=f.get("name"),
                code=f.get("code"),
                kind=f.get("kind"),
            )
            message = f"已修改知识点 {area.code} {area.name}"
        elif op == "move":
            parent = f.get("parent_id", "")
            position = f.get("position", "")
            move_area(
                db.session,
                area,
                parent_id=int(parent) if parent.isdigit() else None,
                position=int(position) if position.lstrip("-").isdigit() else None,
                actor=_who().actor,
            )
            message = f"已移动知识点 {area.name}"
        elif op == "merge":
            target = db.session.get(KnowledgeArea, f.get("target_id", type=int) or 0)
            if target is None:
                raise TreeError("请选择合并到哪个知识点")
            n = merge_areas(db.session, area, target, actor=_who().actor)
            message = f"已将“{area.name}”合并到“{target.name}”，{n} 个试题版本随之归入"
        else:
            abort(400)
        db.session.commit()
        flash(message)
    except TreeError as exc:
        db.session.rollback()
        flash(f"未完成：{exc}")
    return _tree_redirect(level, part)


@blueprint.post("/tree/weights")
@role_required("bank_manager")
def tree_weights() -> WerkzeugResponse:
    level = request.form.get("level", 5, type=int)
    part = request.form.get("part", "theory")
    shares: dict[int, float] = {}
    try:
        for name, value in request.form.items():
            if name.startswith("w_") and value.strip():
                shares[int(name[2:])] = float(value) / 100
        set_weight_table(db.session, level, part, shares, actor=_who().actor)
        db.session.commit()
        flash(
            f"已保存 {level} 级{PART_LABELS.get(part, part)}比重表（合计 {sum(shares.values()) * 100:.0f}%）"
        )
    except (TreeError, ValueError) as exc:
        db.session.rollback()
        flash(f"比重表未保存：{exc}")
    return _tree_redirect(level, part)


# ----- coverage -----


@blueprint.get("/coverage")
@role_required(*BANK)
def coverage_page() -> str:
    level = request.args.get("level", 5, type=int)
    part = request.args.get("part", "theory")
    table = coverage(db.session, level, part)
    return render_template(
        "bank/coverage.html", table=table, levels=levels_in_bank(db.session), UNCLASSIFIED=UNCLASSIFIED
    )


# ----- import / export -----


def _upload_dir() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


@blueprint.get("/exchange")
@role_required(*BANK)
def exchange() -> str:
    return render_template(
        "bank/exchange.html", statuses=IMPORT_STATUSES, can_approve=_who().has_role("bank_manager")
    )


@blueprint.post("/exchange/import")
@role_required("author", "bank_manager")
def import_upload() -> str | tuple[str, int]:
    status = request.form.get("status", DRAFT)
    token = request.form.get("token", "")
    if token:
        # The confirmation of a dry run: the file uploaded then, imported for real now.
        matches = [p for p in _upload_dir().glob(f"{token}.*") if token.isalnum()]
        if not matches:
            flash("上传的文件已过期，请重新上传")
            return render_template(
                "bank/exchange.html", statuses=IMPORT_STATUSES, can_approve=_who().has_role("bank_manager")
            ), 400
        path, name = matches[0], request.form.get("name", matches[0].name)
    else:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("请选择要导入的文件")
            return render_template(
                "bank/exchange.html", statuses=IMPORT_STATUSES, can_approve=_who().has_role("bank_manager")
            ), 400
        name = Path(upload.filename).name
        token = uuid.uuid4().hex
        path = _upload_dir() / f"{token}{Path(name).suffix.lower()}"
        upload.save(path)
    dry_run = request.form.get("confirm") != "1"
    try:
        report = ops.run_import(db.session, path, _who(), status=status, dry_run=dry_run, name=name)
    except BankImportError as exc:
        path.unlink(missing_ok=True)
        return render_template(
            "bank/exchange.html",
            statuses=IMPORT_STATUSES,
            can_approve=_who().has_role("bank_manager"),
            problems=exc.problems,
            name=name,
        ), 422
    except ItemError as exc:
        flash(str(exc))
        return render_template(
            "bank/exchange.html", statuses=IMPORT_STATUSES, can_approve=_who().has_role("bank_manager")
        ), 403
    if not dry_run:
        path.unlink(missing_ok=True)
    return render_template(
        "bank/exchange.html",
        statuses=IMPORT_STATUSES,
        can_approve=_who().has_role("bank_manager"),
        report=report,
        token=token if dry_run else "",
        name=name,
        status=status,
    )


@blueprint.get("/exchange/export.<fmt>")
@role_required(*BANK)
def export(fmt: str) -> WerkzeugResponse:
    if fmt not in EXPORT_MIMES:
        abort(404)
    folder = Path(tempfile.mkdtemp(dir=_upload_dir()))
    path = folder / f"题库导出.{fmt}"
    try:
        export_items(db.session, path)
    except ExportError as exc:
        flash(str(exc))
        return redirect(url_for("bank.exchange"))
    if fmt in ("xlsx", "csv") and any(p.is_dir() for p in folder.iterdir()):
        # Images sit beside a table export; ship both in one zip.
        import shutil

        archive = shutil.make_archive(str(folder / "题库导出"), "zip", folder)
        return send_file(
            archive, as_attachment=True, download_name=f"题库导出_{fmt}.zip", mimetype="application/zip"
        )
    return send_file(path, as_attachment=True, download_name=path.name, mimetype=EXPORT_MIMES[fmt])


@blueprint.get("/exchange/template.xlsx")
@role_required(*BANK)
def template() -> WerkzeugResponse:
    path = Path(tempfile.mkdtemp(dir=_upload_dir())) / "试题导入模板.xlsx"
    write_template(db.session, path)
    return send_file(path, as_attachment=True, download_name=path.name, mimetype=EXPORT_MIMES["xlsx"])


# ----- media -----


@blueprint.post("/media")
@role_required("author", "bank_manager")
def upload() -> tuple[WerkzeugResponse, int]:
    file = request.files.get("file")
    if file is None or not file.filename:
        return _json_error("请选择图片文件", 400)
    try:
        ref = ops.upload_media(db.session, Path(file.filename).name, file.read())
    except MediaError as exc:
        return _json_error(str(exc), 400)
    return jsonify({"ok": True, **ref, "url": url_for("bank.media", digest=ref["sha256"])}), 201


@blueprint.get("/media/<digest>")
@role_required(*BANK)
def media(digest: str) -> WerkzeugResponse:
    found = get_media(db.session, digest)
    if found is None:
        abort(404)
    response = current_app.response_class(found.data, mimetype=found.mime)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


# ----- item sets -----


def _media_field() -> list[dict[str, Any]]:
    try:
        media = json.loads(request.form.get("media") or "[]")
    except json.JSONDecodeError:
        return []
    return [m for m in media if isinstance(m, dict) and m.get("sha256")] if isinstance(media, list) else []


@blueprint.get("/sets")
@role_required(*BANK)
def sets() -> str:
    rows = db.session.execute(
        select(ItemSet, func.count(ItemVersion.id))
        .outerjoin(ItemVersion, ItemVersion.item_set_id == ItemSet.id)
        .group_by(ItemSet.id)
        .order_by(ItemSet.id.desc())
    ).all()
    return render_template("bank/sets.html", rows=rows)


@blueprint.post("/sets")
@role_required("author", "bank_manager")
def create_set() -> WerkzeugResponse | tuple[str, int]:
    try:
        item_set = create_item_set(
            db.session,
            title=request.form.get("title", ""),
            stimulus=request.form.get("stimulus", ""),
            media=_media_field(),
            actor=_who().actor,
        )
        db.session.commit()
    except ItemError as exc:
        db.session.rollback()
        flash(f"未能新建题组：{exc}")
        return redirect(url_for("bank.sets"))
    flash(f"已新建题组 {item_set.external_id}，请为它添加子题")
    return redirect(url_for("bank.set_detail", set_id=item_set.id))


@blueprint.get("/sets/<int:set_id>")
@role_required(*BANK)
def set_detail(set_id: int) -> str:
    item_set = db.session.get(ItemSet, set_id)
    if item_set is None:
        abort(404)
    children = set_children(db.session, item_set)
    items = {
        i.id: i for i in db.session.scalars(select(Item).where(Item.id.in_([c.item_id for c in children])))
    }
    return render_template(
        "bank/set.html",
        item_set=item_set,
        children=children,
        items=items,
        views=[_candidate_view(c) for c in children],
        stimulus=_stimulus(children[0])
        if children
        else {
            "title": item_set.title,
            "stimulus": item_set.stimulus,
            "media": [
                {"name": m.get("name"), "url": url_for("bank.media", digest=m["sha256"])}
                for m in item_set.media or []
            ],
        },
        media_json=json.dumps(item_set.media or [], ensure_ascii=False),
    )


@blueprint.post("/sets/<int:set_id>")
@role_required("author", "bank_manager")
def update_set(set_id: int) -> WerkzeugResponse:
    item_set = db.session.get(ItemSet, set_id)
    if item_set is None:
        abort(404)
    try:
        update_item_set(
            db.session,
            item_set,
            title=request.form.get("title", ""),
            stimulus=request.form.get("stimulus", ""),
            media=_media_field(),
            actor=_who().actor,
        )
        db.session.commit()
        flash("已保存情景材料")
    except ItemError as exc:
        db.session.rollback()
        flash(f"未保存：{exc}")
    return redirect(url_for("bank.set_detail", set_id=set_id))


# ----- JSON API -----


@blueprint.get("/api/items")
@role_required(*BANK)
def api_items() -> WerkzeugResponse:
    result = search_items(db.session, ItemQuery.from_args(request.args))
    return jsonify(
        {
            "total": result.total,
            "total_is_lower_bound": result.more,
            "page": result.query.page,
            "per_page": result.query.per_page,
            "elapsed_ms": round(result.elapsed_ms, 1),
            "items": [
                {
                    "id": r.external_id,
                    "version_id": r.version_id,
                    "version_no": r.version_no,
                    "status": r.status,
                    "type": r.type,
                    "stem": r.stem,
                    "levels": r.levels,
                    "knowledge_area_id": r.area_id,
                    "knowledge_area": result.area_names.get(r.area_id or 0),
                    "author_id": r.author_id,
                }
                for r in result.rows
            ],
        }
    )


@blueprint.get("/api/items/<external_id>")
@role_required(*BANK)
def api_item(external_id: str) -> WerkzeugResponse:
    item = _item_or_404(external_id)
    return jsonify(item_json(item, history(db.session, item)))


def _api_save(item: Item | None) -> tuple[WerkzeugResponse, int]:
    data = request.get_json(silent=True)
    try:
        draft = draft_from_json(data)
        version = ops.save_item(
            db.session,
            draft,
            _who(),
            item=item,
            base_version_id=(data or {}).get("base_version_id"),
            submit=bool((data or {}).get("submit")),
        )
    except DraftError as exc:
        return _json_error(str(exc), 400, field=exc.field)
    except ItemValidationError as exc:
        return _json_error(
            str(exc), 422, problems=[{"field": p.field, "reason": p.reason} for p in exc.problems]
        )
    except (ItemError, ReviewError) as exc:
        return _json_error(str(exc), 409)
    return jsonify({"ok": True, "id": version.item.external_id, "version": version_json(version)}), (
        201 if item is None else 200
    )


@blueprint.post("/api/items")
@role_required("author", "bank_manager")
def api_create() -> tuple[WerkzeugResponse, int]:
    return _api_save(None)


@blueprint.put("/api/items/<external_id>")
@role_required("author", "bank_manager")
def api_revise(external_id: str) -> tuple[WerkzeugResponse, int]:
    return _api_save(_item_or_404(external_id))


@blueprint.post("/api/versions/<int:version_id>/transition")
@role_required(*BANK)
def api_transition(version_id: int) -> tuple[WerkzeugResponse, int]:
    version = _version_or_404(version_id)
    data = request.get_json(silent=True) or {}
    try:
        ops.review(db.session, version, str(data.get("action", "")), _who(), str(data.get("comment", "")))
    except ReviewError as exc:
        return _json_error(str(exc), 409)
    return jsonify({"ok": True, "version": version_json(version)}), 200


@blueprint.post("/api/review/bulk")
@role_required("reviewer", "bank_manager")
def api_bulk() -> tuple[WerkzeugResponse, int]:
    data = request.get_json(silent=True) or {}
    ids = [int(v) for v in data.get("version_ids", []) if isinstance(v, int)]
    try:
        result = ops.bulk_review(
            db.session, ids, str(data.get("action", "")), _who(), str(data.get("comment", ""))
        )
    except ReviewError as exc:
        return _json_error(str(exc), 409)
    return jsonify(
        {
            "ok": True,
            "done": result.done,
            "refused": [{"version_id": v, "reason": r} for v, r in result.refused],
        }
    ), 200


@blueprint.post("/api/preview")
@role_required(*BANK)
def api_preview() -> tuple[WerkzeugResponse, int]:
    """The candidate's view of an unsaved draft and every problem with it (the editor's live preview)."""
    data = request.get_json(silent=True)
    try:
        draft = draft_from_json(data)
    except DraftError as exc:
        return _json_error(str(exc), 400, field=exc.field)
    problems = validate_draft(db.session, draft)
    try:
        view = _candidate_view(draft)
    except (KeyError, IndexError, TypeError, ValueError):
        view = None
    return jsonify(
        {
            "ok": True,
            "view": view,
            "stimulus": _stimulus(draft),
            "problems": [{"field": p.field, "reason": p.reason} for p in problems],
        }
    ), 200


@blueprint.get("/api/areas")
@role_required(*BANK)
def api_areas() -> WerkzeugResponse:
    level = request.args.get("level", type=int)
    return jsonify(
        [
            {
                "id": r.area.id,
                "code": r.area.code,
                "name": r.area.name,
                "path": r.path,
                "depth": r.depth,
                "level": r.area.level,
                "part": r.area.part,
                "kind": r.area.kind,
                "weight": r.weight,
                "counts": r.counts,
            }
            for r in _areas(level)
        ]
    )

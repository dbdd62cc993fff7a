"""Review: one step on one version, tagging a version's area, the reviewer's queue and its bulk steps."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank import queries
from exam_server.bank.views.common import (
    BANK,
    REVIEWERS,
    candidate_view,
    digits,
    safe_next,
    version_or_404,
    who,
)
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.batches import pending_batches
from item_bank.duplicates import duplicate_flags
from item_bank.review import ACTION_LABELS, STATUS_LABELS, ReviewError, comments_for
from item_bank.search import ItemQuery
from item_bank.search import review_queue as queue_of
from item_bank.versions import ItemError


def _back_to(version_external_id: str, version_no: int) -> WerkzeugResponse:
    return redirect(url_for("bank.item_detail", external_id=version_external_id, v=version_no))


@role_required(*BANK)
def act(version_id: int, action: str) -> WerkzeugResponse:
    version = version_or_404(version_id)
    try:
        ops.review(db.session, version, action, who(), request.form.get("comment", ""))
        flash(f"{version.item.external_id} 第 {version.version_no} 版：{STATUS_LABELS.get(version.status)}")
    except ReviewError as exc:
        flash(f"操作未完成：{exc}")
    target = safe_next(request.form.get("next", ""))
    if target:
        return redirect(target)
    return _back_to(version.item.external_id, version.version_no)


@role_required(*REVIEWERS)
def tag_version(version_id: int) -> WerkzeugResponse:
    version = version_or_404(version_id)
    try:
        ops.tag(db.session, version, digits(request.form.get("knowledge_area_id")), who())
        flash("已更新知识点")
    except ItemError as exc:
        flash(f"未能归类：{exc}")
    return _back_to(version.item.external_id, version.version_no)


@role_required(*REVIEWERS)
def review_queue() -> str:
    query = ItemQuery.from_args(request.args)
    result = queue_of(db.session, query)
    versions = queries.versions_by_id(db.session, (r.version_id for r in result.rows))
    comments = comments_for(db.session, list(versions))
    return render_template(
        "bank/review.html",
        result=result,
        query=query,
        versions=versions,
        views={vid: candidate_view(v) for vid, v in versions.items()},
        comments=comments,
        # Comment authors too: a comment shows who wrote it.
        authors=queries.user_names(
            db.session,
            [r.author_id for r in result.rows] + [c.author_id for cs in comments.values() for c in cs],
        ),
        duplicates=duplicate_flags(db.session, versions.values()),
        me=current_user.user.id,
        areas=queries.area_rows(db.session),
        batches=pending_batches(db.session),
        who=who(),
    )


@role_required(*REVIEWERS)
def bulk() -> WerkzeugResponse:
    ids = [int(v) for v in request.form.getlist("version_id") if v.isdigit()]
    action = request.form.get("action", "")
    try:
        result = ops.bulk_review(db.session, ids, action, who(), request.form.get("comment", ""))
    except ReviewError as exc:
        flash(str(exc))
    else:
        refused = f"，{len(result.refused)} 题未处理" if result.refused else ""
        flash(f"{ACTION_LABELS.get(action, action)}：完成 {len(result.done)} 题{refused}")
        for _vid, reason in result.refused[:20]:
            flash(reason)
    return redirect(url_for("bank.review_queue"))


@role_required(*REVIEWERS)
def approve_batch(batch_id: int) -> WerkzeugResponse:
    """Approve an import batch as a whole (a reviewer who did not import it); refused whole for the importer."""
    try:
        result = ops.approve_import_batch(db.session, batch_id, who(), request.form.get("comment", ""))
    except ReviewError as exc:
        flash(f"操作未完成：{exc}")
    else:
        refused = f"，{len(result.refused)} 题未处理" if result.refused else ""
        flash(f"导入批次 {batch_id} 审核通过：完成 {len(result.done)} 题{refused}")
        for _vid, reason in result.refused[:20]:
            flash(reason)
    return redirect(url_for("bank.review_queue"))

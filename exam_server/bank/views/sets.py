"""Item sets (题组): a shared stimulus (情景材料) and the child items that refer to it."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank import queries
from exam_server.bank.views.common import AUTHORS, BANK, candidate_view, found, set_stimulus, who
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.item_sets import set_children
from item_bank.models import ItemSet
from item_bank.versions import ItemError


def _posted_set() -> dict[str, Any]:
    """The posted title, stimulus and image references (a malformed image list counts as none)."""
    try:
        media = json.loads(request.form.get("media") or "[]")
    except json.JSONDecodeError:
        media = []
    if not isinstance(media, list):
        media = []
    return {
        "title": request.form.get("title", ""),
        "stimulus": request.form.get("stimulus", ""),
        "media": [m for m in media if isinstance(m, dict) and m.get("sha256")],
    }


@role_required(*BANK)
def sets() -> str:
    return render_template("bank/sets.html", rows=queries.sets_with_counts(db.session))


@role_required(*AUTHORS)
def create_set() -> WerkzeugResponse:
    try:
        item_set = ops.create_set(db.session, who(), **_posted_set())
    except ItemError as exc:
        flash(f"未能新建题组：{exc}")
        return redirect(url_for("bank.sets"))
    flash(f"已新建题组 {item_set.external_id}，请为它添加子题")
    return redirect(url_for("bank.set_detail", set_id=item_set.id))


@role_required(*BANK)
def set_detail(set_id: int) -> str:
    item_set: ItemSet = found(db.session.get(ItemSet, set_id))
    children = set_children(db.session, item_set)
    return render_template(
        "bank/set.html",
        item_set=item_set,
        children=children,
        items=queries.items_by_id(db.session, (c.item_id for c in children)),
        views=[candidate_view(c) for c in children],
        stimulus=set_stimulus(item_set),
        media_json=json.dumps(item_set.media or [], ensure_ascii=False),
    )


@role_required(*AUTHORS)
def update_set(set_id: int) -> WerkzeugResponse:
    item_set: ItemSet = found(db.session.get(ItemSet, set_id))
    try:
        ops.update_set(db.session, item_set, who(), **_posted_set())
        flash("已保存情景材料")
    except ItemError as exc:
        flash(f"未保存：{exc}")
    return redirect(url_for("bank.set_detail", set_id=set_id))

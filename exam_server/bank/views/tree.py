"""The knowledge tree (知识点) and its weight table (比重表), and the bank's coverage of them."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank.views.common import BANK, MANAGERS, digits, found, who
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.coverage import coverage, levels_in_bank
from item_bank.models import KnowledgeArea
from item_bank.search import UNCLASSIFIED
from item_bank.tree import KINDS, PART_LABELS, THEORY, TreeError, tree_rows


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

"""The knowledge tree: the shipped level-5 tree, weights, and edits that never lose an item's tag."""

from __future__ import annotations

from pathlib import Path

import pytest
from bank_seed import import_approved
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.models import AreaWeight, ItemVersion, KnowledgeArea
from item_bank.standard_tree import ensure_standard_tree
from item_bank.tree import (
    AreaIndex,
    TreeError,
    create_area,
    descendants,
    merge_areas,
    move_area,
    set_weight_table,
    tree_rows,
    update_area,
    weight_table,
)


def area(session: Session, name: str) -> KnowledgeArea:
    found = session.scalar(select(KnowledgeArea).where(KnowledgeArea.name == name, KnowledgeArea.level == 5))
    assert found is not None
    return found


def test_shipped_tree_follows_the_standard(session: Session) -> None:
    assert ensure_standard_tree(session, "t") == 22
    assert ensure_standard_tree(session, "t") == 0
    rows = tree_rows(session, 5)
    top = [r.area.name for r in rows if r.depth == 0]
    assert top == ["基本要求", "工作要求", "综合"]
    assert rows[1].path == "基本要求 › 职业道德"
    assert sum(weight_table(session, 5, "theory").values()) == pytest.approx(1.0)


def test_edit_move_merge_keep_item_tags(session: Session, shared_bank_csv: Path) -> None:
    import_approved(session, shared_bank_csv)
    fire, traffic = area(session, "消防安全"), area(session, "道路交通安全")
    basics, work = area(session, "基础知识"), area(session, "工作要求")
    tagged_fire = session.scalar(
        select(func.count()).select_from(ItemVersion).where(ItemVersion.knowledge_area_id == fire.id)
    )

    update_area(session, fire, name="消防安全管理", actor="m")
    new = create_area(
        session,
        level=5,
        part="theory",
        code="2.4",
        name="安全与应急",
        kind="职业功能",
        parent_id=work.id,
        actor="m",
    )
    move_area(session, fire, parent_id=new.id, actor="m")
    with pytest.raises(TreeError, match="自己的下级"):
        move_area(session, new, parent_id=fire.id, actor="m")
    with pytest.raises(TreeError, match="已被"):
        create_area(session, level=5, part="theory", code="2.4", name="重复", parent_id=None, actor="m")
    moved = merge_areas(session, traffic, fire, actor="m")
    session.commit()
    assert moved == 135
    assert traffic.merged_into_id == fire.id
    # Items keep their own tag ids; lookups follow the merge.
    assert AreaIndex(session).resolve("道路交通安全", [5], "theory") == fire.id
    assert {traffic.id, fire.id} <= descendants(session, new.id)
    rows = {r.area.name: r for r in tree_rows(session, 5)}
    assert "道路交通安全" not in rows
    assert rows["消防安全管理"].counts == {"approved": tagged_fire + 135}
    assert rows["消防安全管理"].path == "工作要求 › 安全与应急 › 消防安全管理"
    assert basics.id not in descendants(session, new.id)
    # The merged area's weight moved to the target.
    assert weight_table(session, 5, "theory")[fire.id] == pytest.approx(0.11 + 0.08)
    assert (
        session.scalar(select(func.count()).select_from(AreaWeight).where(AreaWeight.area_id == traffic.id))
        == 0
    )


def test_weight_table_validation(session: Session) -> None:
    ensure_standard_tree(session, "t")
    fire = area(session, "消防安全")
    with pytest.raises(TreeError, match="不能超过 1"):
        set_weight_table(session, 5, "theory", {fire.id: 0.7, area(session, "巡逻").id: 0.4}, actor="m")
    set_weight_table(session, 5, "theory", {fire.id: 0.5}, actor="m")
    assert weight_table(session, 5, "theory") == {fire.id: 0.5}

"""Knowledge trees as whole files: export and import (Excel and JSON), all or none, and the shipped trees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.db import Base, make_engine, make_session_factory
from item_bank.models import KnowledgeArea
from item_bank.standard_tree import ensure_standard_tree
from item_bank.tree import weight_table
from item_bank.tree_exchange import STANDARD_TREES, TreeImportError, export_tree, import_tree, tree_lines


@pytest.fixture
def other_bank(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    Base.metadata.create_all(engine)
    session = make_session_factory(engine)()
    yield session
    session.close()
    engine.dispose()


def shape(session: Session) -> list[tuple[object, ...]]:
    return [
        (ln.level, ln.part, ln.code, ln.name, ln.kind, ln.parent, ln.weight) for ln in tree_lines(session)
    ]


@pytest.mark.parametrize("suffix", [".xlsx", ".json"])
def test_a_tree_travels_whole_to_another_bank(
    session: Session, other_bank: Session, tmp_path: Path, suffix: str
) -> None:
    ensure_standard_tree(session, "t")
    import_tree(session, STANDARD_TREES, actor="t")
    session.commit()
    path = tmp_path / f"tree{suffix}"
    assert export_tree(session, path) == 22 + 159
    report = import_tree(other_bank, path, actor="t")
    other_bank.commit()
    assert (report.created, report.updated) == (181, 0) and report.weight_tables == ["5 级理论知识"]
    assert shape(other_bank) == shape(session)
    level5 = {
        a.code: a.id
        for a in other_bank.scalars(
            select(KnowledgeArea).where(KnowledgeArea.level == 5, KnowledgeArea.part == "theory")
        )
    }
    assert weight_table(other_bank, 5, "theory")[level5["1.2.4"]] == pytest.approx(0.11)
    # Importing the same file again changes nothing.
    again = import_tree(other_bank, path, actor="t")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 181)


def test_an_edited_workbook_renames_and_adds(session: Session, tmp_path: Path) -> None:
    ensure_standard_tree(session, "t")
    session.commit()
    path = tmp_path / "tree.xlsx"
    export_tree(session, path, level=5, part="theory")
    wb = load_workbook(path)
    ws = wb["知识树"]
    for row in ws.iter_rows(min_row=2):
        if row[2].value == "2.2.1":
            row[3].value = "巡逻与守护"
    ws.append([5, "理论知识", "2.2.3", "停车场管理", "工作内容", "2.2", None])
    wb.save(path)
    report = import_tree(session, path, actor="t")
    session.commit()
    assert (report.created, report.updated) == (1, 1)
    new = session.scalar(select(KnowledgeArea).where(KnowledgeArea.code == "2.2.3"))
    assert new is not None and new.parent is not None and new.parent.code == "2.2" and new.level == 5


def test_a_bad_file_is_refused_whole_with_every_row_named(session: Session, tmp_path: Path) -> None:
    ensure_standard_tree(session, "t")
    session.commit()
    before = shape(session)
    doc = {"format": "baoan-knowledge-tree", "version": 1, "trees": [{"level": 4, "part": "theory", "areas": [
        {"code": "1", "name": "基本要求", "kind": "基本要求", "weight": 60},
        {"code": "1.1", "name": "职业道德", "kind": "职业道德", "parent": "1", "weight": 50},
        {"code": "1.1", "name": "重复", "kind": "知识点", "parent": "1"},
        {"code": "2.1", "name": "无上级", "kind": "职业功能", "parent": "2"},
        {"code": "3", "name": "类别错", "kind": "章节"},
        {"code": "4", "name": "甲", "kind": "知识点", "parent": "5"},
        {"code": "5", "name": "乙", "kind": "知识点", "parent": "4"},
    ]}]}  # fmt: skip
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TreeImportError) as info:
        import_tree(session, path, actor="t")
    lines = [str(p) for p in info.value.problems]
    assert "bad.json:trees[0].areas[2]:代码: 代码 1.1 重复（第 trees[0].areas[1] 行已使用）" in lines
    assert any("上级代码 2 不在文件中" in line for line in lines)
    assert any("类别 章节 无效" in line for line in lines)
    assert any("会成为自己的下级（循环）" in line for line in lines)
    assert any("比重合计 110%，不能超过 100%" in line for line in lines)
    session.rollback()
    assert shape(session) == before


def test_the_shipped_trees_cover_every_level_and_say_they_are_examples() -> None:
    doc = json.loads(STANDARD_TREES.read_text(encoding="utf-8"))
    covered = {(t["level"], t["part"]) for t in doc["trees"]}
    assert covered == {(lv, "theory") for lv in (1, 2, 3, 4)} | {(lv, "skill") for lv in (1, 2, 3, 4, 5)}
    assert all("示例" in t["note"] for t in doc["trees"]) and "示例" in doc["note"]

"""Importing the public bank CSV, and bad CSV files refused row by row with nothing stored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.audit import AuditEvent
from item_bank.importing import BankImportError, import_items
from item_bank.models import IN_REVIEW, Item, ItemVersion, KnowledgeArea

HEADER = ["id", "type", "stem", "options", "answer", "knowledge_area", "source"]


def write_rows(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def opts(*texts: str) -> str:
    return json.dumps(list(texts), ensure_ascii=False)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_shared_bank_loads_every_item(session: Session, shared_bank_csv: Path) -> None:
    report = import_items(session, shared_bank_csv, actor="test:importer", author_id=42)
    assert report.created == 1696
    assert count(session, Item) == 1696
    assert count(session, ItemVersion) == 1696
    by_type = dict(session.execute(select(ItemVersion.type, func.count()).group_by(ItemVersion.type)).all())
    assert by_type == {"single": 1033, "multiple": 368, "judge": 295}
    labels = set(session.scalars(select(KnowledgeArea.name).where(KnowledgeArea.level == 5)))
    assert {"消防安全", "综合", "随身护卫"} <= labels
    assert (
        session.scalar(
            select(func.count()).select_from(ItemVersion).where(ItemVersion.knowledge_area_id.is_(None))
        )
        == 0
    )
    # Stem variants share an enemy group so assembly never puts two in one paper.
    groups = session.execute(
        select(ItemVersion.enemy_group, func.count())
        .where(ItemVersion.enemy_group.is_not(None))
        .group_by(ItemVersion.enemy_group)
    ).all()
    assert len(groups) >= 42 and all(n >= 2 for _, n in groups)
    variants = session.scalars(
        select(ItemVersion.enemy_group).where(
            ItemVersion.stem.like("根据《保安服务管理条例》规定，具有下列（ ）情形之一的人员不得从事%")
        )
    ).all()
    assert len(variants) == 12 and len(set(variants)) == 1
    # Quirks survive: the three-option single, multiple items with every option correct.
    three = session.scalars(select(ItemVersion).where(ItemVersion.type == "single")).all()
    assert any(len(v.options) == 3 for v in three)
    assert len(report.warnings) == 44
    # Imported versions wait for a second person, with the importer as their author.
    assert {(v.status, v.author_id, v.reviewer_id) for v in session.scalars(select(ItemVersion))} == {
        (IN_REVIEW, 42, None)
    }
    item = session.scalar(select(Item).where(Item.external_id == "BAY-0002"))
    assert item is not None and item.current_version is not None and item.current_version.key == "B"
    # Who imported what, from where, is on record.
    assert count(session, AuditEvent) >= 1696
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "bank.import"))
    assert event is not None and event.actor == "test:importer" and event.after["created"] == 1696
    assert report.batch_id == event.id and len(event.after["versions"]) == 1696
    assert report.items_per_s > 0  # the rate is reported; how fast is the benchmarks' business, not a test's


def test_reimport_is_unchanged_and_dry_run_stores_nothing(session: Session, shared_bank_csv: Path) -> None:
    dry = import_items(session, shared_bank_csv, actor="t", dry_run=True)
    assert dry.created == 1696 and count(session, Item) == 0 and count(session, KnowledgeArea) == 0
    import_items(session, shared_bank_csv, actor="t")
    again = import_items(session, shared_bank_csv, actor="t")
    assert again.created == 0 and again.unchanged == 1696 and count(session, ItemVersion) == 1696


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (["B1", "single", "题干", opts("甲", "乙", "丙"), "D", "消防安全", "s"], "answer", "答案 D 不在选项"),
        (["B1", "single", "题干", opts("甲", "乙", "丙"), "", "消防安全", "s"], "answer", "缺少答案"),
        (
            ["B1", "single", "题干", opts("甲", "乙", "丙"), "AB", "消防安全", "s"],
            "answer",
            "单选题只能有一个答案",
        ),
        (["B1", "single", "  ", opts("甲", "乙", "丙"), "A", "消防安全", "s"], "stem", "题干不能为空"),
        (
            ["B1", "single", "题干", opts("甲", "乙", "丙"), "A", "火星知识", "s"],
            "knowledge_area",
            "火星知识",
        ),
        (["B1", "单选择", "题干", opts("甲", "乙"), "A", "消防安全", "s"], "type", "未知题型"),
        (["B1", "single", "题干", "[甲, 乙", "A", "消防安全", "s"], "options", "JSON"),
    ],
)
def test_bad_row_is_reported_and_nothing_stored(
    session: Session, tmp_path: Path, row: list[str], column: str, reason: str
) -> None:
    good = ["G1", "judge", "保安员应当文明服务。", opts("正确", "错误"), "A", "职业道德与礼仪", "s"]
    path = write_rows(tmp_path / "bank.csv", [good, row])
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t")
    problems = info.value.problems
    assert [(p.file, p.row, p.column) for p in problems] == [("bank.csv", 3, column)]
    assert reason in problems[0].reason
    assert count(session, Item) == 0 and count(session, ItemVersion) == 0


def test_every_bad_row_reported_at_once(session: Session, tmp_path: Path) -> None:
    rows = [
        ["D1", "single", "题一", opts("甲", "乙"), "A", "消防安全", "s"],
        ["D1", "single", "题二", opts("甲", "乙"), "B", "消防安全", "s"],
        ["D3", "multiple", "题三", opts("甲", "乙", "丙", "丁"), "AE", "消防安全", "s"],
    ]
    path = write_rows(tmp_path / "dups.csv", rows)
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t")
    lines = [str(p) for p in info.value.problems]
    assert lines[0].startswith("dups.csv:3:id: 试题编号 D1 重复")
    assert lines[1].startswith("dups.csv:4:answer: 答案 E 不在选项")
    assert count(session, Item) == 0


def test_gbk_csv_from_chinese_excel(session: Session, tmp_path: Path) -> None:
    rows = [["K1", "单选题", "发现火情应当首先（ ）。", opts("报警", "逃跑"), "A", "消防安全", "本地"]]
    path = write_rows(tmp_path / "gbk.csv", rows, encoding="gbk")
    report = import_items(session, path, actor="t", status="draft")
    assert report.encoding == "gb18030" and report.created == 1
    version = session.scalar(select(ItemVersion))
    assert version is not None and version.stem == "发现火情应当首先（ ）。" and version.status == "draft"


def test_bad_bytes_gbk_file_with_bad_row(session: Session, tmp_path: Path) -> None:
    rows = [["K1", "单选题", "发现火情应当首先（ ）。", opts("报警", "逃跑"), "C", "消防安全", "本地"]]
    path = write_rows(tmp_path / "gbk.csv", rows, encoding="gbk")
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t")
    assert str(info.value.problems[0]).startswith("gbk.csv:2:answer: 答案 C 不在选项 AB 中")
    assert count(session, Item) == 0


def test_unreadable_encoding(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(b"id,type\n\xff\xfe\xfa\x80\x81\x00,x\n")
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t")
    assert "编码" in info.value.problems[0].reason


def test_duplicate_of_bank_item_is_flagged_for_review(session: Session, tmp_path: Path) -> None:
    first = write_rows(
        tmp_path / "a.csv",
        [["A1", "single", "发现火情应当首先（ ）。", opts("报警", "逃跑"), "A", "消防安全", "s"]],
    )
    import_items(session, first, actor="t")
    second = write_rows(
        tmp_path / "b.csv",
        [["Z9", "single", "发现火情，应当首先（）", opts("报警", "离开"), "A", "消防安全", "s"]],
    )
    report = import_items(session, second, actor="t")
    assert [(d.external_id, d.similar_to) for d in report.duplicates] == [("Z9", "A1")]
    version = session.scalar(
        select(ItemVersion).join(Item, Item.id == ItemVersion.item_id).where(Item.external_id == "Z9")
    )
    assert version is not None and version.status == "in_review" and version.enemy_group == "V-A1"

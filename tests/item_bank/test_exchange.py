"""Excel, CSV, JSON and QTI exchange: round trips through a second bank, and bad files refused row by row."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bank_seed import import_approved
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import exam_server.models  # noqa: F401
from item_bank.db import Base, make_engine, make_session_factory
from item_bank.exchange.json_io import item_json
from item_bank.exporting import collect, export_items, write_template
from item_bank.importing import BankImportError, import_items
from item_bank.models import Item, ItemSet, ItemVersion, MediaFile

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def media(name: str = "scene.png", data: bytes = PNG) -> dict[str, str]:
    return {"name": name, "mime": "image/png", "data_base64": base64.b64encode(data).decode()}


MIXED: dict[str, Any] = {
    "format": "baoan-item-bank",
    "version": 1,
    "item_sets": [
        {"id": "S-001", "title": "小区夜间巡逻", "stimulus": "某小区夜间巡逻时，保安员发现一辆可疑车辆……", "media": [media("map.png")]}
    ],
    "items": [
        {"id": "M-1", "type": "single", "stem": "发现火情应当首先（ ）。", "options": ["逃离", "报警", "围观"], "key": "B",
         "knowledge_area": "消防安全", "difficulty": 0.8, "explanation": "先报警。"},
        {"id": "M-2", "type": "multiple", "stem": "下列属于保安服务的有（ ）。", "options": ["门卫", "巡逻", "押运", "审判"],
         "key": "ABC", "points": 2, "knowledge_area": "1.2.3 保安服务业基础", "enemy_group": "E-1"},
        {"id": "M-3", "type": "judge", "stem": "保安员可以扣押他人证件。", "options": ["正确", "错误"], "key": "B",
         "knowledge_area": "保安服务法律法规", "media": [media("id.png", PNG + b"x")]},
        {"id": "M-4", "type": "fill", "stem": "火警电话是（ ），急救电话是____。", "key": [["119"], ["120", "一二零"]],
         "points": 2, "knowledge_area": "消防安全"},
        {"id": "M-5", "type": "short", "stem": "简述门卫查验证件的要点。", "key": None, "points": 4,
         "rubric": [{"criterion": "核对照片", "points": 2}, {"criterion": "登记", "points": 2}],
         "model_answer": "核对照片与本人，登记来访信息。", "knowledge_area": "门卫与出入口管理"},
        {"id": "M-6", "type": "essay", "stem": "论述大型活动秩序维护的要点。", "key": None, "points": 10,
         "rubric": [{"criterion": "分区管理", "points": 5}, {"criterion": "应急通道", "points": 5}],
         "model_answer": "分区、疏导、保持应急通道畅通……", "levels": [4, 5]},
        {"id": "M-7", "type": "single", "stem": "可疑车辆应当（ ）。", "options": ["放行", "记录车牌并报告"], "key": "B",
         "set_id": "S-001", "knowledge_area": "巡逻"},
        {"id": "M-8", "type": "judge", "stem": "保安员可以强行扣留司机。", "key": "B", "set_id": "S-001",
         "knowledge_area": "巡逻"},
    ],
}  # fmt: skip


@pytest.fixture
def other_bank(tmp_path: Path) -> Iterator[Session]:
    """A second, empty bank (SQLite) to import exports into."""
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    Base.metadata.create_all(engine)
    session = make_session_factory(engine)()
    yield session
    session.close()
    engine.dispose()


def load_mixed(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(MIXED, ensure_ascii=False), encoding="utf-8")
    report = import_approved(session, path)
    assert report.created == 8 and report.sets_created == 1 and report.unclassified == 1


def snapshot(session: Session) -> list[dict[str, Any]]:
    items, sets = collect(session)
    out = []
    for r in items:
        j = item_json(r)
        j["media"] = [
            hashlib.sha256(base64.b64decode(m["data_base64"])).hexdigest() for m in j.get("media", [])
        ]
        for name in ("source", "status", "version", "author", "reviewer", "exposure_count"):
            j.pop(name, None)  # the bank's own (an import makes new versions to review)
        out.append(j)
    out.append(
        {
            "sets": [
                (s.external_id, s.title, s.stimulus, [hashlib.sha256(m.data).hexdigest() for m in s.media])
                for s in sets
            ]
        }
    )
    return out


@pytest.mark.parametrize("suffix", [".xlsx", ".json", ".zip", ".csv"])
def test_round_trip_through_a_second_bank(
    session: Session, other_bank: Session, tmp_path: Path, suffix: str
) -> None:
    load_mixed(session, tmp_path)
    out = tmp_path / "out" / f"bank{suffix}"
    out.parent.mkdir()
    report = export_items(session, out)
    assert report.items == 8 and report.sets == 1
    imported = import_items(other_bank, out, actor="t")
    assert imported.created == 8 and not imported.duplicates
    assert snapshot(other_bank) == snapshot(session)
    # Exporting the copy again gives the same file content for the tabular formats.
    again = tmp_path / "again" / f"bank{suffix}"
    again.parent.mkdir()
    export_items(other_bank, again)
    if suffix == ".xlsx":
        assert sheet_values(again) == sheet_values(out)
    if suffix == ".csv":
        assert csv_values(again) == csv_values(out)


# The bank's own columns: a second bank reviews what it imports, with its own people.
BANK_OWN = {"状态", "版本", "命题人", "审题人", "曝光次数"}


def _content_columns(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    keep = [i for i, header in enumerate(rows[0]) if header not in BANK_OWN]
    return [tuple(row[i] for i in keep) for row in rows]


def sheet_values(path: Path) -> list[tuple[Any, ...]]:
    wb = load_workbook(path, read_only=True)
    rows = list(wb["试题"].iter_rows(values_only=True))
    wb.close()
    return _content_columns(rows)


def csv_values(path: Path) -> list[tuple[Any, ...]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return _content_columns([tuple(row) for row in csv.reader(fh)])


# The whole bank's round trip reads and writes workbooks the same way on either database: once, on SQLite (the
# PostgreSQL run took 50 s of CI's budget; import and export on PostgreSQL are covered by the smaller tests).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_shared_bank_excel_round_trip(
    session: Session, other_bank: Session, tmp_path: Path, shared_bank_csv: Path
) -> None:
    import_items(session, shared_bank_csv, actor="t")
    first = tmp_path / "a" / "bank.xlsx"
    first.parent.mkdir()
    export_items(session, first)
    report = import_items(other_bank, first, actor="t")
    assert report.created == 1696
    second = tmp_path / "b" / "bank.xlsx"
    second.parent.mkdir()
    export_items(other_bank, second)
    assert sheet_values(second) == sheet_values(first)
    assert snapshot(other_bank) == snapshot(session)


def test_template_has_instructions_and_validation(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(session, path)
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["填写说明", "试题"]
    ws = wb["试题"]
    assert [c.value for c in ws[1]][:4] == ["试题编号", "题型", "所属题组", "题干"]
    rules = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    assert rules["B2"].type == "list" and "单选题" in rules["B2"].formula1
    assert rules["M2"].type == "custom"  # the key column
    assert "1.2.4 消防安全" in [c.value for c in wb["知识点列表"]["A"]]
    # An author fills the template in Excel and imports it.
    ws.append(
        [
            "",
            "单选题",
            "",
            "巡逻时发现可疑人员应（ ）。",
            "跟踪",
            "盘问并报告",
            "",
            "",
            "",
            "",
            "",
            "",
            "B",
            1,
            "5",
            "理论知识",
            "2.2.1 巡逻",
        ]
    )
    ws.append(["", "判断题", "", "保安员可以没收他人物品。", "", "", "", "", "", "", "", "", "错误"])
    wb.save(path)
    report = import_items(session, path, actor="t", status="draft")
    assert report.created == 2
    keys = set(session.scalars(select(ItemVersion.key)))
    assert keys == {"B"}


def bad_json(tmp_path: Path, items: list[dict[str, Any]]) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"items": items}, ensure_ascii=False), encoding="utf-8")
    return path


def assert_nothing_stored(session: Session) -> None:
    for model in (Item, ItemVersion, ItemSet, MediaFile):
        assert session.scalar(select(func.count()).select_from(model)) == 0


def refused(session: Session, path: Path) -> list[str]:
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t")
    assert_nothing_stored(session)
    return [str(p) for p in info.value.problems]


def test_broken_xlsx(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    assert refused(session, path)[0].startswith("broken.xlsx::-: 不是有效的 Excel 文件")


def test_bad_xlsx_rows_name_row_and_column(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    write_template(session, path)
    session.rollback()
    wb = load_workbook(path)
    ws = wb["试题"]
    ws.append(
        ["X-1", "单选题", "", "题一（ ）", "甲", "乙", "", "", "", "", "", "", "C"]
    )  # key not among options
    ws.append(["X-1", "多选题", "", "题二（ ）", "甲", "乙", "丙", "", "", "", "", "", "AB"])  # duplicate id
    ws.append(["X-3", "单选题", "", "题三（ ）", "甲", "乙", "", "", "", "", "", "", ""])  # missing key
    ws.append(
        ["X-4", "单选题", "", "题四（ ）", "甲", "乙", "", "", "", "", "", "", "A", 1, "5", "", "火星"]
    )  # area
    wb.save(path)
    from item_bank.models import KnowledgeArea

    before = session.scalar(select(func.count()).select_from(KnowledgeArea))
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t")
    lines = [str(p) for p in info.value.problems]
    assert lines == [
        "t.xlsx:2:答案: 答案 C 不在选项 AB 中",
        "t.xlsx:3:试题编号: 试题编号 X-1 重复（第 2 行已使用）",
        "t.xlsx:4:答案: 缺少答案",
        "t.xlsx:5:知识点: 知识点 '火星' 不在 5 级知识树中",
    ]
    assert session.scalar(select(func.count()).select_from(Item)) == 0
    assert session.scalar(select(func.count()).select_from(KnowledgeArea)) == before


def test_bad_json_items(session: Session, tmp_path: Path) -> None:
    items = [
        {"id": "J-1", "type": "single", "stem": "题（ ）", "options": ["甲", "乙"], "key": "C"},
        {"id": "J-1", "type": "single", "stem": "题（ ）", "options": ["甲", "乙"], "key": "A"},
        {"id": "J-3", "type": "single", "stem": "题（ ）", "options": ["甲", "乙"]},
        {"id": "J-4", "type": "judge", "stem": "题", "key": "A", "knowledge_area": "不存在的知识点"},
        {
            "id": "J-5",
            "type": "judge",
            "stem": "题",
            "key": "A",
            "media": [media("big.png", b"\0" * (2 * 1024 * 1024 + 1))],
        },
        {"type": "judge", "stem": "题", "key": "A"},
    ]
    lines = refused(session, bad_json(tmp_path, items))
    assert lines == [
        "bad.json:J-1:id: 试题编号 J-1 重复（第 1 题已使用）",
        "bad.json:J-1:key: 答案 C 不在选项 AB 中",
        "bad.json:J-3:key: 缺少答案",
        "bad.json:J-4:knowledge_area: 知识点 '不存在的知识点' 不在 5 级知识树中",
        "bad.json:J-5:media[0]: 图片 big.png 大小 2.0 MB 超过上限 2.0 MB",
        "bad.json:items[5]:id: 缺少试题编号 id",
    ]


def test_oversized_image_in_csv_and_qti(session: Session, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (2 * 1024 * 1024 + 10))
    csv_path = tmp_path / "img.csv"
    csv_path.write_text(
        "题型,题干,答案,图片\n判断题,看图判断。,A,big.png\n判断题,看图判断二。,A,missing.png\n",
        encoding="utf-8",
    )
    assert refused(session, csv_path) == [
        "img.csv:2:图片: 图片 big.png 大小 2.0 MB 超过上限 2.0 MB",
        "img.csv:3:图片: 找不到图片文件 missing.png（应放在导入文件所在的文件夹）",
    ]
    load_mixed(session, tmp_path)
    package = tmp_path / "p.zip"
    export_items(session, package)
    session.rollback()
    # Swap one image in the package for an oversized one, keeping its name.
    with zipfile.ZipFile(package) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    name = next(n for n in entries if n.startswith("media/") and n.endswith("id.png"))
    entries[name] = b"\0" * (2 * 1024 * 1024 + 10)
    with zipfile.ZipFile(package, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with pytest.raises(BankImportError) as info:
        import_items(session, package, actor="t", dry_run=True)
    assert [str(p) for p in info.value.problems] == [
        f"p.zip:M-3:img: 图片 {name} 大小 2.0 MB 超过上限 2.0 MB"
    ]


FOREIGN_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="choice1" title="Fire" adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">
    <correctResponse><value>ChoiceB</value></correctResponse>
  </responseDeclaration>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float"/>
  <itemBody>
    <p>Which number do you call for a fire?</p>
    <p><img src="images/phone.png" alt="phone"/></p>
    <choiceInteraction responseIdentifier="RESPONSE" shuffle="true" maxChoices="1">
      <simpleChoice identifier="ChoiceA">110</simpleChoice>
      <simpleChoice identifier="ChoiceB">119</simpleChoice>
      <simpleChoice identifier="ChoiceC">120</simpleChoice>
    </choiceInteraction>
  </itemBody>
  <responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"/>
</assessmentItem>"""
FOREIGN_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" identifier="M1">
  <organizations/>
  <resources>
    <resource identifier="R1" type="imsqti_item_xmlv2p1" href="choice1.xml">
      <file href="choice1.xml"/><file href="images/phone.png"/>
    </resource>
  </resources>
</manifest>"""


def test_foreign_qti_package_arrives_unclassified(session: Session, tmp_path: Path) -> None:
    package = tmp_path / "foreign.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("imsmanifest.xml", FOREIGN_MANIFEST)
        zf.writestr("choice1.xml", FOREIGN_ITEM)
        zf.writestr("images/phone.png", PNG)
    report = import_items(session, package, actor="t", status="draft")
    assert report.created == 1 and report.unclassified == 1
    version = session.scalar(select(ItemVersion))
    assert version is not None
    assert (version.type, version.stem, version.options, version.key) == (
        "single", "Which number do you call for a fire?", ["110", "119", "120"], "B")  # fmt: skip
    assert version.knowledge_area_id is None and version.media[0]["name"] == "phone.png"
    assert session.scalar(select(Item.external_id)) == "choice1"


def test_qti_key_not_among_choices(session: Session, tmp_path: Path) -> None:
    package = tmp_path / "bad.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("imsmanifest.xml", FOREIGN_MANIFEST)
        zf.writestr("choice1.xml", FOREIGN_ITEM.replace("<value>ChoiceB</value>", "<value>ChoiceZ</value>"))
        zf.writestr("images/phone.png", PNG)
    lines = refused(session, package)
    assert lines[0] == "bad.zip:choice1:correctResponse: 正确答案 ChoiceZ 不是本题的选项"
    not_zip = tmp_path / "nz.zip"
    not_zip.write_bytes(b"nope")
    assert refused(session, not_zip) == ["nz.zip::-: 不是有效的 zip 文件（QTI 内容包应为 zip）"]


def test_reimport_edited_excel_makes_new_versions(session: Session, tmp_path: Path) -> None:
    load_mixed(session, tmp_path)
    path = tmp_path / "edit.xlsx"
    export_items(session, path)
    wb = load_workbook(path)
    ws = wb["试题"]
    for row in ws.iter_rows(min_row=2):
        if row[0].value == "M-1":
            row[3].value = "发现火情时应当首先（ ）。"
    wb.save(path)
    report = import_items(session, path, actor="t", status="draft")
    assert (report.created, report.new_versions, report.unchanged) == (0, 1, 7)
    item = session.scalar(select(Item).where(Item.external_id == "M-1"))
    assert item is not None and [v.version_no for v in item.versions] == [1, 2]
    # The approved version stays current until the draft is reviewed.
    assert item.current_version is not None and item.current_version.version_no == 1

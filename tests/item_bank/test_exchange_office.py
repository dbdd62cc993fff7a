"""Exchange an office and another system can live with: attributes in every format, numbers as numbers,
the bank's own columns, 正确/错误, and the QTI 2.1 sample items' shapes (mapping keys, no rubric, alt-text
image names, indented stems)."""

from __future__ import annotations

import base64
import csv
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bank_seed import import_approved
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.attributes import define_attribute
from item_bank.db import Base, make_engine, make_session_factory
from item_bank.exporting import export_items, write_template
from item_bank.importing import BankImportError, import_items
from item_bank.models import Item, ItemVersion

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
BANK: dict[str, Any] = {
    "format": "baoan-item-bank",
    "version": 1,
    "items": [
        {"id": "M-1", "type": "single", "stem": "发现火情应当首先（ ）。", "options": ["逃离", "报警", "围观"], "key": "B",
         "knowledge_area": "消防安全", "difficulty": 0.8, "cognitive_level": "理解",
         "attributes": {"题型形式": "图片", "dok": 2}, "irt": {"a": 1.2, "b": -0.35}},
        {"id": "M-3", "type": "judge", "stem": "保安员可以扣押他人证件。", "options": ["正确", "错误"], "key": "B"},
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
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(BANK, ensure_ascii=False), encoding="utf-8")
    import_approved(session, path)


def define(session: Session) -> None:
    define_attribute(session, name="format", label="题型形式", values=["文字", "图片"], actor="t")
    define_attribute(
        session, name="dok", label="知识深度", kind="number", values={"min": 1, "max": 4}, actor="t"
    )
    session.commit()


def attrs(session: Session) -> dict[str, Any]:
    return {
        ext: (v.cognitive_level, v.attributes, v.irt_a, v.irt_b)
        for ext, v in session.execute(
            select(Item.external_id, ItemVersion).join(ItemVersion, ItemVersion.item_id == Item.id)
        )
        if v.cognitive_level or v.attributes
    }


@pytest.mark.parametrize("suffix", [".xlsx", ".csv", ".json", ".zip"])
def test_attributes_travel_through_every_format(
    session: Session,
    other_bank: Session,
    tmp_path: Path,
    suffix: str,
) -> None:
    define(session)
    define(other_bank)
    load_mixed(session, tmp_path)
    out = tmp_path / "out" / f"bank{suffix}"
    out.parent.mkdir()
    export_items(session, out)
    import_items(other_bank, out, actor="t")
    assert attrs(other_bank) == attrs(session) == {"M-1": ("理解", {"dok": 2, "format": "图片"}, 1.2, -0.35)}


def test_excel_export_is_an_office_table(session: Session, tmp_path: Path) -> None:
    define(session)
    load_mixed(session, tmp_path)
    out = tmp_path / "bank.xlsx"
    export_items(session, out, people={9001: "张三"})
    ws = load_workbook(out)["试题"]
    header = [c.value for c in ws[1]]
    rows = {r[0].value: {h: c for h, c in zip(header, r, strict=False)} for r in ws.iter_rows(min_row=2)}
    m1, m3 = rows["M-1"], rows["M-3"]
    assert (m1["分值"].value, m1["等级"].value, m1["难度"].value) == (1, 5, 0.8)  # numbers, not text
    assert (m1["IRT区分度a"].value, m1["IRT难度b"].value) == (1.2, -0.35)
    assert (m1["认知层次"].value, m1["属性:题型形式"].value, m1["属性:知识深度"].value) == (
        "理解",
        "图片",
        "2",
    )
    assert {"状态", "版本", "命题人", "审题人", "曝光次数"} <= set(header)
    assert (m1["状态"].value, m1["版本"].value, m1["曝光次数"].value) == ("已通过", 1, 0)
    assert m1["题干"].alignment.wrap_text
    assert m3["答案"].value == "错误"  # 判断 written as an office reads it


def test_csv_writes_judge_answers_as_words(session: Session, tmp_path: Path) -> None:
    define(session)
    load_mixed(session, tmp_path)
    out = tmp_path / "bank.csv"
    export_items(session, out)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert next(r for r in rows if r["试题编号"] == "M-3")["答案"] == "错误"


def test_template_has_the_attribute_columns_with_lists(session: Session, tmp_path: Path) -> None:
    define(session)
    path = tmp_path / "template.xlsx"
    write_template(session, path)
    ws = load_workbook(path)["试题"]
    header = [c.value for c in ws[1]]
    assert {"认知层次", "属性:题型形式", "属性:知识深度"} <= set(header)
    lists = [dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert any("识记" in f and "应用" in f for f in lists) and any("文字" in f and "图片" in f for f in lists)


def test_an_attribute_outside_its_definition_is_refused_naming_the_column(
    session: Session, tmp_path: Path
) -> None:
    define(session)
    path = tmp_path / "bad.csv"
    path.write_text(
        "试题编号,题型,题干,选项A,选项B,答案,认知层次,属性:知识深度,属性:情景\n"
        "A-1,单选题,题一（ ）,甲,乙,A,背诵,9,夜间\n",
        encoding="utf-8",
    )
    with pytest.raises(BankImportError) as info:
        import_items(session, path, actor="t", dry_run=True)
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith("bad.csv:2:认知层次: 认知层次“背诵”不是标准中的取值") for line in lines)
    assert any(line.startswith("bad.csv:2:属性:知识深度: 知识深度 9 超出范围") for line in lines)
    assert any(line.startswith("bad.csv:2:属性:情景: 属性“情景”未定义") for line in lines)


# The shapes of the IMS QTI 2.1 sample items (choiceMultiple keyed by a mapping, extendedText without a
# rubric), written here from the specification's examples.
MAPPED = """<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="choiceMultiple" title="Composition of Water" adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="multiple" baseType="identifier">
    <mapping lowerBound="0" upperBound="2" defaultValue="-2">
      <mapEntry mapKey="H" mappedValue="1"/>
      <mapEntry mapKey="O" mappedValue="1"/>
      <mapEntry mapKey="Cl" mappedValue="-1"/>
    </mapping>
  </responseDeclaration>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float"/>
  <itemBody>
    <choiceInteraction responseIdentifier="RESPONSE" shuffle="true" maxChoices="0">
      <prompt>Which of the following elements are used to form water?</prompt>
      <simpleChoice identifier="H" fixed="false">Hydrogen</simpleChoice>
      <simpleChoice identifier="He" fixed="false">Helium</simpleChoice>
      <simpleChoice identifier="C" fixed="false">Carbon</simpleChoice>
      <simpleChoice identifier="O" fixed="false">Oxygen</simpleChoice>
      <simpleChoice identifier="N" fixed="false">Nitrogen</simpleChoice>
      <simpleChoice identifier="Cl" fixed="false">Chlorine</simpleChoice>
    </choiceInteraction>
  </itemBody>
  <responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response"/>
</assessmentItem>"""
ESSAY = """<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="extendedText" title="Writing a Postcard" adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="string"/>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float"/>
  <itemBody>
    <p>Read this postcard from your English pen-friend, Sam.</p>
    <div>
      <object type="image/png" data="images/postcard.png">
        <img src="images/postcard.png" alt="postcard from Sam"/>
      </object>
    </div>
    <extendedTextInteraction responseIdentifier="RESPONSE" expectedLength="200">
      <prompt>Write Sam a postcard. Answer the questions.
\t\t\tWrite 25-35 words.</prompt>
    </extendedTextInteraction>
  </itemBody>
</assessmentItem>"""


def package(path: Path, items: dict[str, str]) -> Path:
    resources = "".join(
        f'<resource identifier="R{i}" type="imsqti_item_xmlv2p1" href="{name}"><file href="{name}"/></resource>'
        for i, name in enumerate(items)
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "imsmanifest.xml",
            '<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" identifier="M"><organizations/>'
            f"<resources>{resources}</resources></manifest>",
        )
        for name, xml in items.items():
            zf.writestr(name, xml)
        zf.writestr("images/postcard.png", PNG)
    return path


def test_qti_sample_shapes_are_imported(session: Session, tmp_path: Path) -> None:
    path = package(tmp_path / "samples.zip", {"choiceMultiple.xml": MAPPED, "extendedText.xml": ESSAY})
    report = import_items(session, path, actor="t")
    assert report.created == 2
    versions = {
        ext: v
        for ext, v in session.execute(
            select(Item.external_id, ItemVersion).join(ItemVersion, ItemVersion.item_id == Item.id)
        )
    }
    mapped = versions["choiceMultiple"]
    assert (mapped.type, mapped.key, mapped.content["scoring"]) == ("multiple", "AD", "partial")
    assert mapped.stem == "Which of the following elements are used to form water?"
    essay = versions["extendedText"]
    assert essay.status == "draft" and essay.content.get("rubric") in (None, [])
    assert essay.stem == "Write Sam a postcard. Answer the questions. Write 25-35 words."
    assert essay.media[0]["name"] == "postcard_from_Sam.png"
    warnings = [str(w) for w in report.warnings]
    assert any("没有评分要点，已作为草稿导入" in w for w in warnings)
    assert any("部分给分" in w for w in warnings)


def test_an_exported_image_is_named_sanely(session: Session, tmp_path: Path) -> None:
    path = package(tmp_path / "samples.zip", {"extendedText.xml": ESSAY})
    import_items(session, path, actor="t")
    out = tmp_path / "again.zip"
    export_items(session, out)
    with zipfile.ZipFile(out) as zf:
        images = [n for n in zf.namelist() if n.startswith("media/")]
        item_xml = next(zf.read(n).decode() for n in zf.namelist() if n.startswith("items/"))
    assert len(images) == 1 and images[0].endswith("_postcard_from_Sam.png") and " " not in images[0]
    assert json.dumps(images)  # plain names
    assert f'src="../{images[0]}"' in item_xml

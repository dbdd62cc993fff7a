"""Item attributes: the first-class 认知层次 and the bank's named attributes, carried by versions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from item_bank.attributes import (
    AttributeError_,
    attribute_value,
    cognitive_level,
    define_attribute,
    normalise_attributes,
)
from item_bank.review import Reviewer, ReviewError, bulk_transition, transition
from item_bank.search import ItemQuery, search_items
from item_bank.versions import ItemDraft, ItemValidationError, create_item, revise_item


def _define(session: Session) -> None:
    define_attribute(
        session, name="format", label="题型形式", kind="enum", values=["文字", "图片"], actor="t"
    )
    define_attribute(
        session, name="dok", label="知识深度", kind="number", values={"min": 1, "max": 4}, actor="t"
    )
    session.commit()


def _draft(**extra: object) -> ItemDraft:
    return ItemDraft(
        type="judge",
        stem="保安员可以搜查他人身体。",
        content={"options": ["正确", "错误"]},
        key="B",
        **extra,  # type: ignore[arg-type]
    )


def test_versions_carry_the_cognitive_level_and_attributes(session: Session) -> None:
    _define(session)
    v1 = create_item(
        session,
        _draft(cognitive_level="掌握", attributes={"题型形式": "图片", "dok": "2"}),
        actor="t",
        author_id=1,
    )
    session.commit()
    assert attribute_value(v1, "cognitive_level") == "应用"  # the alias read as the standard's value
    assert attribute_value(v1, "format") == "图片"
    assert attribute_value(v1, "dok") == 2.0
    assert attribute_value(v1, "missing") is None
    draft = ItemDraft.from_version(v1)
    draft.attributes = {"format": "文字"}
    v2 = revise_item(session, v1.item, draft, actor="t", author_id=1)
    session.commit()
    assert (v1.attributes, v2.attributes, v2.cognitive_level) == (
        {"dok": 2, "format": "图片"},
        {"format": "文字"},
        "应用",
    )


def test_values_outside_the_definitions_are_refused_by_name(session: Session) -> None:
    _define(session)
    with pytest.raises(ItemValidationError) as info:
        create_item(session, _draft(cognitive_level="背诵", attributes={"dok": 7}), actor="t", author_id=1)
    fields = {p.field: p.reason for p in info.value.problems}
    assert "识记、理解、应用" in fields["cognitive_level"]
    assert "知识深度 7 超出范围" in fields["attributes"]
    with pytest.raises(AttributeError_, match="属性“情景”未定义"):
        normalise_attributes(session, {"情景": "夜间"})
    with pytest.raises(AttributeError_, match="不是定义中的取值"):
        normalise_attributes(session, {"format": "视频"})
    with pytest.raises(AttributeError_, match="试题自带的字段"):
        define_attribute(session, name="points", kind="number", actor="t")
    assert cognitive_level("  ") is None


def test_a_missing_key_is_refused_in_chinese_alone(session: Session) -> None:
    with pytest.raises(ItemValidationError) as info:
        create_item(
            session,
            ItemDraft(type="single", stem="题", content={"options": ["甲", "乙"]}, key=""),
            actor="t",
            author_id=1,
        )
    assert "缺少答案" in str(info.value) and "missing" not in str(info.value)


def test_search_combines_words_and_filters_on_attributes(session: Session) -> None:
    _define(session)
    for stem, level, attrs in (
        ("保安员夜间巡逻时发现可疑人员应当（ ）。", "应用", {"format": "文字"}),
        ("巡逻路线应当由保安员（ ）确定。", "识记", {"format": "图片"}),
        ("保安员上岗前应当（ ）。", None, {}),
    ):
        draft = ItemDraft(type="single", stem=stem, content={"options": ["甲", "乙"]}, key="A",
                          cognitive_level=level, attributes=attrs)  # fmt: skip
        create_item(session, draft, actor="t", author_id=1)
    session.commit()
    found = search_items(session, ItemQuery(text="保安员 巡逻"))
    assert found.total == 2  # both words, anywhere in the stem (was 0: the phrase as one string)
    assert search_items(session, ItemQuery(text="保安员　巡逻 可疑")).total == 1
    assert search_items(session, ItemQuery(cognitive_level="识记")).total == 1
    assert search_items(session, ItemQuery(text="保安员 应用")).total == 1
    assert search_items(session, ItemQuery(attribute="format", attribute_value="图片")).total == 1


def test_bulk_refusals_name_the_item_and_the_role_in_chinese(session: Session) -> None:
    version = create_item(session, _draft(), actor="t", author_id=1)
    session.commit()
    transition(session, version, "submit", Reviewer("user:a", 1, frozenset({"author"})))
    session.commit()
    manager = Reviewer("user:m", 3, frozenset({"bank_manager"}))
    with pytest.raises(ReviewError, match="审核通过需要审题人角色，当前账号没有"):
        bulk_transition(session, [version.id], "approve", manager)
    own = bulk_transition(session, [version.id], "approve", Reviewer("user:a", 1, frozenset({"reviewer"})))
    external_id = version.item.external_id
    assert own.refused == [
        (version.id, f"试题 {external_id} 第 1 版：不能审核通过自己编写的试题（需另一位审题人）")
    ]


def test_an_empty_stem_and_zero_points_are_refused_in_chinese_alone(session: Session) -> None:
    with pytest.raises(ItemValidationError) as info:
        create_item(
            session, ItemDraft(type="single", stem="", content={"options": ["甲", "乙"]}, key="A", points=0),
            actor="t", author_id=1,
        )  # fmt: skip
    text = str(info.value)
    assert "题干不能为空" in text and "分值必须大于 0" in text
    assert not re.search(r"[A-Za-z]{4,}", text.replace("stem", "").replace("points", ""))

"""Item attributes: the first-class 认知层次 and the bank's named attributes, carried by versions."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from item_bank.attributes import (
    AttributeError_,
    attribute_value,
    cognitive_level,
    define_attribute,
    normalise_attributes,
)
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

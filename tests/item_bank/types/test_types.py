"""Each item type: validation, the candidate's view (never the key), answer checks and scoring."""

from __future__ import annotations

import pytest

from item_bank.types import HumanGradedError, ItemContent, ItemSetType, ItemType, item_type


def fields(item: ItemContent) -> list[str]:
    return [p.field for p in item_type(item.type).validate(item)]


def single(
    key: str = "B", options: list[str] | None = None, stem: str = "发现火情应当（ ）。"
) -> ItemContent:
    return ItemContent("single", stem, {"options": options or ["逃离", "报警", "围观", "拍照"]}, key, 1.0)


def test_registry_holds_every_type() -> None:
    assert {"single", "multiple", "judge", "fill", "short", "essay", "set"} <= set(ItemType.registry)
    assert item_type("essay").auto_scored is False and item_type("fill").auto_scored is True
    with pytest.raises(KeyError, match="未知题型"):
        item_type("matrix")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (single(), []),
        (single(key="E"), ["key"]),
        (single(key="AB"), ["key"]),
        (single(key=""), ["key"]),
        (single(stem="   "), ["stem"]),
        (single(options=["甲", ""]), ["options"]),
        (single(options=["甲"], key="A"), ["options"]),
        (ItemContent("multiple", "下列属于（ ）", {"options": ["甲", "乙", "丙", "丁"]}, "ACD"), []),
        (ItemContent("multiple", "下列属于（ ）", {"options": ["甲", "乙", "丙", "丁"]}, "AAC"), ["key"]),
        (ItemContent("judge", "保安员可以搜身。", {"options": ["正确", "错误"]}, "B"), []),
        (ItemContent("judge", "保安员可以搜身。", {"options": ["正确", "错误", "不确定"]}, "B"), ["options"]),
        (ItemContent("single", "题", {"options": ["甲", "乙"]}, "A", points=0), ["points"]),
    ],
)
def test_choice_validation(item: ItemContent, expected: list[str]) -> None:
    assert fields(item) == expected


def test_choice_render_hides_key_and_follows_order() -> None:
    view = item_type("single").render(single(), option_order=["C", "A", "D", "B"])
    assert "key" not in view and view["options"][0] == {"id": "C", "text": "围观"}
    assert [o["id"] for o in view["options"]] == ["C", "A", "D", "B"]


def test_choice_scoring_and_value_checks() -> None:
    s = item_type("single")
    assert s.score(single(), "B") == 1.0 and s.score(single(), "A") == 0.0 and s.score(single(), None) == 0.0
    assert (
        s.check_value(single(), "AB")
        and s.check_value(single(), "Z")
        and s.check_value(single(), "B") is None
    )
    m = ItemContent("multiple", "题", {"options": ["甲", "乙", "丙", "丁"]}, "ACD", 2.0)
    mt = item_type("multiple")
    assert mt.score(m, "ACD", "all_or_nothing") == 2.0
    assert mt.score(m, "AC", "all_or_nothing") == 0.0
    assert mt.score(m, "AC", "partial") == pytest.approx(2.0 * 2 / 3)
    assert mt.score(m, "AB", "partial") == 0.0
    assert mt.check_value(m, "CA") is not None and mt.check_value(m, "AC") is None
    j = ItemContent("judge", "题", {"options": ["正确", "错误"]}, "A")
    assert item_type("judge").score(j, "A") == 1.0 and item_type("judge").score(j, "B") == 0.0


def fill(key: object, stem: str = "火警电话是（ ），急救电话是（ ）。") -> ItemContent:
    return ItemContent("fill", stem, {}, key, 2.0)


def test_fill_in_validation() -> None:
    assert fields(fill([["119"], ["120", "一二零"]])) == []
    assert fields(fill([])) == ["key"]
    assert fields(fill(None)) == ["key"]
    assert fields(fill([["119"], ["  "]])) == ["key"]
    assert fields(fill([["119"]])) == ["key"]  # the stem marks two blanks
    assert fields(fill([["甲"]], stem="没有标记空位的题干")) == []


def test_fill_in_scoring_normalises_width_space_case_and_synonyms() -> None:
    t = item_type("fill")
    item = fill([["119"], ["120", "一二零"]])
    assert t.score(item, ["１１９", " 120 "]) == 2.0  # full width digits, spaces
    assert t.score(item, ["119", "一二零"]) == 2.0  # a listed synonym
    assert t.score(item, ["119", "110"]) == 1.0  # one blank of two
    assert t.score(item, None) == 0.0
    latin = ItemContent("fill", "灭火器的英文缩写是____。", {}, [["ABC"]], 1.0)
    assert t.score(latin, ["a b c"]) == 1.0  # case and spaces
    view = t.render(item)
    assert view == {"type": "fill", "stem": item.stem, "blanks": 2}
    assert (
        t.check_value(item, ["1", "2", "3"])
        and t.check_value(item, "119")
        and t.check_value(item, ["119"]) is None
    )


def essay(**content: object) -> ItemContent:
    base = {
        "rubric": [{"criterion": "说明报警程序", "points": 6}, {"criterion": "说明疏散要点", "points": 4}],
        "model_answer": "先报警，再组织疏散……",
    }
    base.update(content)
    return ItemContent("essay", "论述发生火灾时保安员的处置程序。", base, None, 10.0)


def test_human_graded_validation_render_and_no_auto_score() -> None:
    assert fields(essay()) == []
    assert fields(essay(model_answer="")) == ["model_answer"]
    assert fields(essay(rubric=[])) == ["rubric"]
    assert fields(essay(rubric=[{"criterion": "要点", "points": 3}])) == ["rubric"]  # 3 ≠ 10 points
    assert fields(
        ItemContent(
            "short", "简述门卫职责。", {"rubric": [{"criterion": "登记"}], "model_answer": "登记"}, "A"
        )
    ) == ["key"]
    view = item_type("essay").render(essay())
    assert "model_answer" not in str(view) and "rubric" not in view and view["max_chars"] == 5000
    with pytest.raises(HumanGradedError):
        item_type("essay").score(essay(), "答案")
    assert (
        item_type("short").check_value(essay(), 5) and item_type("short").check_value(essay(), "文字") is None
    )


def test_item_set_validates_children_and_renders_together() -> None:
    t = item_type("set")
    assert isinstance(t, ItemSetType)
    stimulus = ItemContent("set", "某小区夜间发生盗窃……", media=[{"sha256": "ab", "name": "map.png"}])
    children = [
        single(),
        ItemContent("judge", "保安员应当立即抓捕嫌疑人。", {"options": ["正确", "错误"]}, "B"),
    ]
    assert t.validate_set(stimulus, children) == []
    view = t.render_set(stimulus, children)
    assert [c["type"] for c in view["children"]] == ["single", "judge"]
    assert view["media"] == [{"sha256": "ab", "name": "map.png"}] and "key" not in str(view)
    problems = t.validate_set(ItemContent("set", ""), [single(key="Z")])
    assert [p.field for p in problems] == ["stem", "child 1.key"]
    assert [p.field for p in t.validate_set(stimulus, [])] == ["children"]

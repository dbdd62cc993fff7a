"""题组 (情景 / 案例): a stimulus (text and images) shared by child items that travel together.

The set itself has no key and earns nothing (`Method.NOTHING`); its `stem` is the stimulus, and
validation and rendering cover the children given alongside it. In flat files a set is a row of its
own (题型 题组) that its children name in 所属题组; QTI packages carry sets in the manifest's metadata.
"""

from __future__ import annotations

from typing import Any

from item_bank.types.base import ContentProblem, HumanGradedError, ItemContent, ItemType, lookup


class ItemSetType(ItemType):
    name = "set"
    label = "题组（情景/案例）"
    short_label = "题组"
    aliases = ("题组", "情景", "情景题", "案例", "案例题", "情景/案例")
    answerable = False
    empty_stem = "情景材料不能为空"

    @property
    def column_label(self) -> str:
        return self.short_label

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        return self.stem_problems(item)

    def validate_set(self, stimulus: ItemContent, children: list[ItemContent]) -> list[ContentProblem]:
        """Problems with the stimulus and each child (fields prefixed "child N.")."""
        problems = self.validate(stimulus)
        if not children:
            problems.append(ContentProblem("children", "题组至少要有一道子题"))
        for i, child in enumerate(children, start=1):
            if child.type == self.name:
                problems.append(ContentProblem(f"child {i}.type", "题组中不能再嵌套题组"))
                continue
            for p in lookup(child.type).validate(child):
                problems.append(ContentProblem(f"child {i}.{p.field}", p.reason))
        return problems

    def render_set(self, stimulus: ItemContent, children: list[ItemContent]) -> dict[str, Any]:
        """The candidate's view: the stimulus, then each child rendered by its own type (no keys)."""
        view = super().render(stimulus)
        view["children"] = [lookup(c.type).render(c) for c in children]
        return view

    def score(self, item: ItemContent, value: Any, rule: str = "exact") -> float:
        raise HumanGradedError("题组本身不计分；请对其中每道子题评分")

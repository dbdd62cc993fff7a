"""Item types: a registry of small classes on one base.

Each type validates its content, renders itself for the candidate (never with the key),
checks a candidate's answer value, and scores a response. The answer values are the wire
format of DESIGN.md §7: option letters for choice types ("B", sorted "ACD"), a list of strings
for fill-in, text for essays, None for no answer.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, ClassVar

LETTERS = string.ascii_uppercase


@dataclass
class ContentProblem:
    """One thing wrong with an item's content: the field and a reason a person can act on."""

    field: str
    reason: str


@dataclass
class ItemContent:
    """What a type needs to validate, render and score an item version, independent of storage."""

    type: str
    stem: str
    content: dict[str, Any] = field(default_factory=dict)
    key: Any = None
    points: float = 1.0


class ItemType:
    """Base of every item type; subclasses register themselves by `name`."""

    name: ClassVar[str]
    label: ClassVar[str]
    #: Scored by rules (True) or by people through grading tasks (False).
    auto_scored: ClassVar[bool] = True
    registry: ClassVar[dict[str, type[ItemType]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            ItemType.registry[cls.name] = cls

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        """Every problem with the item's content; an empty list means it is valid."""
        problems = []
        if not (item.stem or "").strip():
            problems.append(ContentProblem("stem", "题干不能为空 (empty stem)"))
        if item.points is None or item.points <= 0:
            problems.append(ContentProblem("points", "分值必须大于 0 (points must be positive)"))
        return problems

    def render(self, item: ItemContent, option_order: list[str] | None = None) -> dict[str, Any]:
        """The candidate's view of the item: no key, options in `option_order` if given."""
        return {"type": self.name, "stem": item.stem}

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        """None if `value` is a well-formed answer to this item, else the reason it is not."""
        return None

    def score(self, item: ItemContent, value: Any, rule: str = "exact") -> float:
        """Points earned by `value` (0 for no answer)."""
        # Imported here so the bank (import, validation, screens) never needs numpy at import time.
        from scoring.rules import score_response

        return float(score_response(self.name, item.key, value, item.points, rule))

    def is_answered(self, value: Any) -> bool:
        return value not in (None, "", [])


class ChoiceType(ItemType):
    """Shared behaviour of the option-based types."""

    min_options: ClassVar[int] = 2
    max_options: ClassVar[int] = 8

    def options(self, item: ItemContent) -> list[str]:
        return list(item.content.get("options") or [])

    def option_letters(self, item: ItemContent) -> list[str]:
        return list(LETTERS[: len(self.options(item))])

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        problems = super().validate(item)
        options = self.options(item)
        if not self.min_options <= len(options) <= self.max_options:
            problems.append(
                ContentProblem(
                    "options",
                    f"选项数应为 {self.min_options}-{self.max_options} 个，实际 {len(options)} 个",
                )
            )
        for i, text in enumerate(options):
            if not str(text).strip():
                problems.append(ContentProblem("options", f"选项 {LETTERS[i]} 为空"))
        key = item.key if isinstance(item.key, str) else ""
        if not key:
            problems.append(ContentProblem("key", "缺少答案 (missing key)"))
        letters = set(self.option_letters(item))
        for letter in key:
            if letter not in letters:
                problems.append(
                    ContentProblem("key", f"答案 {letter} 不在选项 {''.join(sorted(letters))} 中")
                )
        if len(set(key)) != len(key):
            problems.append(ContentProblem("key", f"答案 {key} 有重复字母"))
        return problems

    def render(self, item: ItemContent, option_order: list[str] | None = None) -> dict[str, Any]:
        options = self.options(item)
        order = option_order or self.option_letters(item)
        view = super().render(item)
        view["options"] = [{"id": letter, "text": options[LETTERS.index(letter)]} for letter in order]
        return view

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            return "答案应为选项字母"
        letters = set(self.option_letters(item))
        if any(ch not in letters for ch in value):
            return f"答案 {value} 不是本题的选项"
        return None


class SingleChoice(ChoiceType):
    name = "single"
    label = "单选题"

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        problems = super().validate(item)
        if isinstance(item.key, str) and len(item.key) > 1:
            problems.append(ContentProblem("key", f"单选题只能有一个答案，实际为 {item.key}"))
        return problems

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        reason = super().check_value(item, value)
        if reason is None and value is not None and len(value) != 1:
            return "单选题只能选一个选项"
        return reason


class MultipleResponse(ChoiceType):
    name = "multiple"
    label = "多选题"

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        reason = super().check_value(item, value)
        if reason is None and value is not None and value != "".join(sorted(set(value))):
            return "多选题答案应为按字母顺序排列、不重复的选项字母"
        return reason


class TrueFalse(ChoiceType):
    """判断题: two options 正确 / 错误; the key is "A" (正确) or "B" (错误)."""

    name = "judge"
    label = "判断题"
    min_options = 2
    max_options = 2

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        reason = super().check_value(item, value)
        if reason is None and value is not None and len(value) != 1:
            return "判断题只能选一个选项"
        return reason

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        problems = super().validate(item)
        if isinstance(item.key, str) and len(item.key) > 1:
            problems.append(ContentProblem("key", f"判断题只能有一个答案，实际为 {item.key}"))
        return problems


def item_type(name: str) -> ItemType:
    """The type registered as `name`; KeyError names the unknown type."""
    try:
        return ItemType.registry[name]()
    except KeyError:
        raise KeyError(f"未知题型 {name!r}; 已知题型: {', '.join(sorted(ItemType.registry))}") from None

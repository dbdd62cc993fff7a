"""Item types: a registry of small classes on one base.

Each type validates its content, renders itself for the candidate (never with the key),
checks a candidate's answer value, and scores a response. The answer values are the wire
format of DESIGN.md §7: option letters for choice types ("B", sorted "ACD"), a list of strings
for fill-in, text for essays, None for no answer.
"""

from __future__ import annotations

import re
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
    #: Image references ({"sha256", "name", "mime"}); the web layer turns them into URLs.
    media: list[dict[str, Any]] = field(default_factory=list)


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
        view: dict[str, Any] = {"type": self.name, "stem": item.stem}
        if item.media:
            view["media"] = [{"sha256": m.get("sha256"), "name": m.get("name", "")} for m in item.media]
        return view

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


# Blank markers authors type in a fill-in stem: "（ ）", "( )", "____" or "{{1}}".
BLANK_MARKER = re.compile(r"[（(]\s*[）)]|_{2,}|\{\{\s*\d*\s*\}\}")


def count_blanks(stem: str) -> int:
    """How many answer gaps the stem marks."""
    return len(BLANK_MARKER.findall(stem or ""))


class FillIn(ItemType):
    """填空题: the key is a list of blanks, each a list of accepted answers (synonyms included).

    A response matches a blank when its normalised text (full/half width, spaces, case) equals
    the normalised text of any accepted answer; each blank earns an equal share of the points.
    """

    name = "fill"
    label = "填空题"
    max_answer_chars: ClassVar[int] = 200

    def blanks(self, item: ItemContent) -> list[list[str]]:
        key = item.key if isinstance(item.key, list) else []
        return [list(b) if isinstance(b, list | tuple) else [b] for b in key]

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        from scoring.rules import normalise_text

        problems = super().validate(item)
        blanks = self.blanks(item)
        if not isinstance(item.key, list) or not blanks:
            problems.append(ContentProblem("key", "缺少答案：填空题至少要有一个空及其可接受答案"))
            return problems
        for i, blank in enumerate(blanks, start=1):
            answers = [a for a in blank if isinstance(a, str) and normalise_text(a)]
            if not answers:
                problems.append(ContentProblem("key", f"第 {i} 空没有可接受的答案"))
            elif len(answers) != len(blank):
                problems.append(ContentProblem("key", f"第 {i} 空有空白或非文字的答案"))
        marked = count_blanks(item.stem)
        if marked and marked != len(blanks):
            problems.append(ContentProblem("key", f"题干中有 {marked} 个空，答案给了 {len(blanks)} 个空"))
        return problems

    def render(self, item: ItemContent, option_order: list[str] | None = None) -> dict[str, Any]:
        view = super().render(item)
        view["blanks"] = len(self.blanks(item))
        return view

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str | None) for v in value):
            return "填空题答案应为每空一项的文字列表"
        if len(value) > len(self.blanks(item)):
            return f"本题只有 {len(self.blanks(item))} 个空"
        if any(v and len(v) > self.max_answer_chars for v in value):
            return f"每空不超过 {self.max_answer_chars} 字"
        return None

    def is_answered(self, value: Any) -> bool:
        return isinstance(value, list) and any(v and str(v).strip() for v in value)


class HumanGradedError(Exception):
    """A human-graded item was asked for a rule-based score."""


class HumanGraded(ItemType):
    """Shared behaviour of the types people grade: a rubric, a model answer, no key."""

    auto_scored = False
    max_answer_chars: ClassVar[int] = 5000

    def rubric(self, item: ItemContent) -> list[dict[str, Any]]:
        return list(item.content.get("rubric") or [])

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        problems = super().validate(item)
        if item.key not in (None, "", []):
            problems.append(
                ContentProblem("key", f"{self.label}由人工评分，不应填写答案字母；参考答案请写在参考答案栏")
            )
        if not str(item.content.get("model_answer") or "").strip():
            problems.append(ContentProblem("model_answer", "缺少参考答案"))
        rubric = self.rubric(item)
        if not rubric:
            problems.append(ContentProblem("rubric", "缺少评分要点"))
        for i, criterion in enumerate(rubric, start=1):
            if not str(criterion.get("criterion") or "").strip():
                problems.append(ContentProblem("rubric", f"第 {i} 条评分要点为空"))
            pts = criterion.get("points")
            if pts is not None and (not isinstance(pts, int | float) or pts <= 0):
                problems.append(ContentProblem("rubric", f"第 {i} 条评分要点的分值应大于 0"))
        given = [c.get("points") for c in rubric if isinstance(c.get("points"), int | float)]
        if rubric and len(given) == len(rubric) and item.points and abs(sum(given) - item.points) > 1e-9:
            problems.append(
                ContentProblem(
                    "rubric", f"评分要点分值合计 {sum(given):g} 分，与本题分值 {item.points:g} 分不符"
                )
            )
        return problems

    def render(self, item: ItemContent, option_order: list[str] | None = None) -> dict[str, Any]:
        view = super().render(item)
        view["max_chars"] = int(item.content.get("max_chars") or self.max_answer_chars)
        return view

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return "答案应为文字"
        limit = int(item.content.get("max_chars") or self.max_answer_chars)
        if len(value) > limit:
            return f"答案不超过 {limit} 字"
        return None

    def score(self, item: ItemContent, value: Any, rule: str = "exact") -> float:
        raise HumanGradedError(f"{self.label}由阅卷员按评分要点评分，不能自动评分")

    def is_answered(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())


class ShortAnswer(HumanGraded):
    name = "short"
    label = "简答题"
    max_answer_chars = 1000


class Essay(HumanGraded):
    name = "essay"
    label = "论述题"
    max_answer_chars = 5000


class ItemSetType(ItemType):
    """题组 (情景 / 案例): a stimulus (text and images) shared by child items that travel together.

    The set itself has no key and earns nothing; its `stem` is the stimulus, and validation and
    rendering cover the children given alongside it.
    """

    name = "set"
    label = "题组（情景/案例）"
    auto_scored = False

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        problems = []
        if not (item.stem or "").strip():
            problems.append(ContentProblem("stem", "情景材料不能为空"))
        return problems

    def validate_set(self, stimulus: ItemContent, children: list[ItemContent]) -> list[ContentProblem]:
        """Problems with the stimulus and each child (fields prefixed "child N.")."""
        problems = self.validate(stimulus)
        if not children:
            problems.append(ContentProblem("children", "题组至少要有一道子题"))
        for i, child in enumerate(children, start=1):
            if child.type == self.name:
                problems.append(ContentProblem(f"child {i}.type", "题组中不能再嵌套题组"))
                continue
            for p in item_type(child.type).validate(child):
                problems.append(ContentProblem(f"child {i}.{p.field}", p.reason))
        return problems

    def render_set(self, stimulus: ItemContent, children: list[ItemContent]) -> dict[str, Any]:
        """The candidate's view: the stimulus, then each child rendered by its own type (no keys)."""
        view = super().render(stimulus)
        view["children"] = [item_type(c.type).render(c) for c in children]
        return view

    def score(self, item: ItemContent, value: Any, rule: str = "exact") -> float:
        raise HumanGradedError("题组本身不计分；请对其中每道子题评分")


def item_type(name: str) -> ItemType:
    """The type registered as `name`; KeyError names the unknown type."""
    try:
        return ItemType.registry[name]()
    except KeyError:
        raise KeyError(f"未知题型 {name!r}; 已知题型: {', '.join(sorted(ItemType.registry))}") from None

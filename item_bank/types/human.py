"""What the types people grade (short answer, essay) share: a rubric, a model answer and no key.

Never scored by a rule (`Method.PEOPLE`): a submitted answer becomes a grading task. In QTI the answer
box is an extendedTextInteraction and the rubric and model answer travel in a scorer rubricBlock; in
flat files they have their own columns (评分要点, 参考答案).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar

from item_bank.exchange.cells import criterion_line, criterion_of, format_rubric, parse_rubric
from item_bank.exchange.qti_xml import QtiItem, QtiRead, sub, text_of
from item_bank.exchange.records import ItemRecord
from item_bank.types.base import ContentProblem, HumanGradedError, ItemContent, ItemType, RowCells
from scoring.rules import Method


class HumanGraded(ItemType):
    """Shared behaviour of the types people grade: a rubric, a model answer, no key."""

    method = Method.PEOPLE
    renderer = "text"
    qti_interaction = "extendedTextInteraction"
    max_answer_chars: ClassVar[int] = 5000
    #: A QTI answer box at least this long (expectedLength) is read as this type when the package
    #: does not say which; the longest threshold a box reaches wins.
    qti_min_length: ClassVar[int] = 0

    def rubric(self, item: ItemContent) -> list[dict[str, Any]]:
        return list(item.content.get("rubric") or [])

    def answer_limit(self, content: Mapping[str, Any]) -> int:
        """The most characters an answer may have: the item's own limit, else the type's."""
        return int(content.get("max_chars") or self.max_answer_chars)

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
        view["max_chars"] = self.answer_limit(item.content)
        return view

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return "答案应为文字"
        limit = self.answer_limit(item.content)
        if len(value) > limit:
            return f"答案不超过 {limit} 字"
        return None

    def value_limit(self, item: ItemContent) -> int:
        return self.answer_limit(item.content)

    def score(self, item: ItemContent, value: Any, rule: str = "exact") -> float:
        raise HumanGradedError(f"{self.label}由阅卷员按评分要点评分，不能自动评分")

    def is_answered(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip())

    # ----- flat files

    def read_row(self, row: RowCells) -> tuple[dict[str, Any], Any] | None:
        content = {
            "rubric": parse_rubric(row.cell("rubric")),
            "model_answer": row.cell("model_answer") or row.cell("answer"),
        }
        return content, None

    def write_row(self, content: Mapping[str, Any], key: Any) -> dict[str, str]:
        return {
            "rubric": format_rubric(content.get("rubric")),
            "model_answer": str(content.get("model_answer") or ""),
        }

    # ----- QTI: an extendedTextInteraction with the rubric for scorers

    def qti_declare(self, root: ET.Element, record: ItemRecord) -> None:
        sub(root, "responseDeclaration", identifier="RESPONSE", cardinality="single", baseType="string")

    def qti_body(self, body: ET.Element, record: ItemRecord) -> None:
        limit = str(self.answer_limit(record.content))
        interaction = sub(
            body, "extendedTextInteraction", responseIdentifier="RESPONSE", expectedLength=limit
        )
        sub(interaction, "prompt", record.stem)
        rubric = sub(body, "rubricBlock", view="scorer")
        sub(rubric, "p", str(record.content.get("model_answer") or ""), **{"class": "model-answer"})
        ul = sub(rubric, "ul", **{"class": "rubric"})
        for criterion in record.content.get("rubric") or []:
            sub(ul, "li", criterion_line(criterion))

    def qti_read(self, item: QtiItem) -> QtiRead:
        inter = item.interactions[0]
        block = next((rb for rb in item.body.iter("rubricBlock") if "scorer" in (rb.get("view") or "")), None)
        model = block.find("./p[@class='model-answer']") if block is not None else None
        rubric = [criterion_of(text_of(li).strip()) for li in block.iter("li")] if block is not None else []
        content = {"rubric": rubric, "model_answer": text_of(model).strip()}
        stem = text_of(inter.find("prompt")).strip() or item.loose_text()
        return QtiRead(stem, content, None, {"expected_length": int(inter.get("expectedLength") or 0)})

    def qti_match(self, facts: Mapping[str, Any]) -> int:
        return 1 + self.qti_min_length if facts.get("expected_length", 0) >= self.qti_min_length else 0

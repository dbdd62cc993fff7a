"""What the option-based types (single, multiple, judge) share: options A, B ... and a key of letters.

Scored all at once as bitmasks (`Method.OPTIONS`); written to QTI as a choiceInteraction; in flat files
the options are the 选项A-H columns (or a JSON list) and the key is the letters of the answer column.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from item_bank.exchange.cells import parse_answer_letters
from item_bank.exchange.qti_xml import MATCH_CORRECT, QtiItem, QtiRead, sub, text_of
from item_bank.exchange.records import ItemRecord
from item_bank.types.base import LETTERS, ContentProblem, ItemContent, ItemType, RowCells
from scoring.rules import Method


class ChoiceType(ItemType):
    """Shared behaviour of the option-based types."""

    min_options: ClassVar[int] = 2
    max_options: ClassVar[int] = 8
    #: A response may choose several options (QTI cardinality "multiple") or exactly one.
    several: ClassVar[bool] = False
    method = Method.OPTIONS
    renderer = "single-choice"
    qti_interaction = "choiceInteraction"

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
            problems.append(ContentProblem("key", "缺少答案"))
        letters = set(self.option_letters(item))
        for letter in key:
            if letter not in letters:
                problems.append(
                    ContentProblem("key", f"答案 {letter} 不在选项 {''.join(sorted(letters))} 中")
                )
        if len(set(key)) != len(key):
            problems.append(ContentProblem("key", f"答案 {key} 有重复字母"))
        if not self.several and isinstance(item.key, str) and len(item.key) > 1:
            problems.append(ContentProblem("key", f"{self.label}只能有一个答案，实际为 {item.key}"))
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
        if not self.several and len(value) != 1:
            return f"{self.label}只能选一个选项"
        return None

    # ----- flat files and JSON

    def key_from_cell(self, text: str) -> str:
        """The key of an answer cell."""
        return parse_answer_letters(text)

    def read_row(self, row: RowCells) -> tuple[dict[str, Any], Any] | None:
        options = row.options()
        if options is None:
            return None
        return {"options": options or list(self.default_options)}, self.key_from_cell(row.cell("answer"))

    def read_json(self, obj: Mapping[str, Any], problem: Callable[[str, str], None]) -> dict[str, Any]:
        options = obj.get("options", list(self.default_options))
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            problem("options", "options 应为文字列表")
            options = []
        return {"options": options}

    # ----- QTI: a choiceInteraction, scored by the match_correct template

    def qti_declare(self, root: ET.Element, record: ItemRecord) -> None:
        cardinality = "multiple" if self.several else "single"
        decl = sub(
            root, "responseDeclaration", identifier="RESPONSE", cardinality=cardinality, baseType="identifier"
        )
        correct = sub(decl, "correctResponse")
        for letter in str(record.key or ""):
            sub(correct, "value", letter)

    def qti_body(self, body: ET.Element, record: ItemRecord) -> None:
        interaction = sub(
            body,
            "choiceInteraction",
            responseIdentifier="RESPONSE",
            shuffle="false",
            maxChoices="0" if self.several else "1",
        )
        sub(interaction, "prompt", record.stem)
        for letter, text in zip(LETTERS, record.content.get("options") or [], strict=False):
            sub(interaction, "simpleChoice", str(text), identifier=letter)

    def qti_process(self, root: ET.Element, record: ItemRecord) -> None:
        sub(root, "responseProcessing", template=MATCH_CORRECT)

    def qti_read(self, item: QtiItem) -> QtiRead:
        inter = item.interactions[0]
        choices = inter.findall("simpleChoice")
        letters = {c.get("identifier"): LETTERS[i] for i, c in enumerate(choices)}
        options = [text_of(c).strip() for c in choices]
        decl = item.declaration(inter)
        values = (
            [text_of(v).strip() for v in decl.findall("./correctResponse/value")] if decl is not None else []
        )
        unknown = [v for v in values if v not in letters]
        if unknown:
            item.problem("correctResponse", f"正确答案 {', '.join(unknown)} 不是本题的选项")
        key = "".join(sorted(letters[v] for v in values if v in letters))
        content: dict[str, Any] = {"options": options}
        if not values and decl is not None:
            # Keyed only by a mapping (map_response, as the QTI samples' multiple-response item is): the
            # options worth points are the key, and the item asked for partial credit.
            mapped = {
                entry.get("mapKey"): float(entry.get("mappedValue") or 0)
                for entry in decl.findall("./mapping/mapEntry")
            }
            key = "".join(sorted(letters[k] for k, v in mapped.items() if k in letters and v > 0))
            if key:
                content["scoring"] = "partial"
                content["qti_mapping"] = {letters[k]: v for k, v in mapped.items() if k in letters}
        max_choices = inter.get("maxChoices")
        several = (decl is not None and decl.get("cardinality") == "multiple") or max_choices not in (
            "1",
            None,
        )
        stem = text_of(inter.find("prompt")).strip() or item.loose_text()
        return QtiRead(stem, content, key, {"several": several, "options": options})

    def qti_match(self, facts: Mapping[str, Any]) -> int:
        return 1 if facts.get("several") == self.several else 0

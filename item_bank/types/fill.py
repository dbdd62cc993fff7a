"""填空题 (fill-in): the key is a list of blanks, each a list of accepted answers (synonyms included).

A response matches a blank when its normalised text (full/half width, spaces, case) equals the normalised
text of any accepted answer; each blank earns an equal share of the points (`Method.BLANKS`). In QTI each
blank is a textEntryInteraction whose accepted answers are a mapping; in flat files the answer cell
separates blanks by "；" and synonyms by "|".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar

from item_bank.exchange.cells import format_blanks, parse_blanks
from item_bank.exchange.qti_xml import QtiItem, QtiRead, sub, text_of
from item_bank.exchange.records import ItemRecord
from item_bank.types.base import ContentProblem, ItemContent, ItemType, RowCells
from scoring.rules import Method, normalise_text

# Blank markers authors type in a fill-in stem: "（ ）", "( )", "____" or "{{1}}".
BLANK_MARKER = re.compile(r"[（(]\s*[）)]|_{2,}|\{\{\s*\d*\s*\}\}")


def count_blanks(stem: str) -> int:
    """How many answer gaps the stem marks."""
    return len(BLANK_MARKER.findall(stem or ""))


class FillIn(ItemType):
    name = "fill"
    label = "填空题"
    short_label = "填空"
    aliases = ("fill_in",)
    method = Method.BLANKS
    renderer = "blanks"
    key_hint = "每空之间用；分隔，同一空的同义答案用 | 分隔，如：119；120|一二零"
    stem_hint = "用（ ）或 ____ 标出每个空"
    qti_interaction = "textEntryInteraction"
    max_answer_chars: ClassVar[int] = 200

    def blanks(self, item: ItemContent) -> list[list[str]]:
        key = item.key if isinstance(item.key, list) else []
        return [list(b) if isinstance(b, list | tuple) else [b] for b in key]

    def validate(self, item: ItemContent) -> list[ContentProblem]:
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

    def value_limit(self, item: ItemContent) -> int:
        return max(1, len(self.blanks(item))) * self.max_answer_chars

    # ----- flat files

    def read_row(self, row: RowCells) -> tuple[dict[str, Any], Any] | None:
        try:
            return {}, parse_blanks(row.cell("answer"))
        except (ValueError, TypeError) as exc:
            row.problem("answer", f"填空答案无法解析: {exc}")
            return None

    def write_row(self, content: Mapping[str, Any], key: Any) -> dict[str, str]:
        return {"answer": format_blanks(key)}

    # ----- QTI: one textEntryInteraction per blank, each summed through its mapping

    def qti_declare(self, root: ET.Element, record: ItemRecord) -> None:
        for i, blank in enumerate(record.key or [], start=1):
            decl = sub(
                root,
                "responseDeclaration",
                identifier=f"RESPONSE_{i}",
                cardinality="single",
                baseType="string",
            )
            sub(sub(decl, "correctResponse"), "value", str(blank[0]))
            mapping = sub(decl, "mapping", defaultValue="0")
            for answer in blank:
                sub(mapping, "mapEntry", mapKey=str(answer), mappedValue="1", caseSensitive="false")

    def qti_body(self, body: ET.Element, record: ItemRecord) -> None:
        p = sub(body, "p")
        pieces = BLANK_MARKER.split(record.stem)
        markers = BLANK_MARKER.findall(record.stem)
        blanks = len(record.key or [])
        p.text = pieces[0]
        last: ET.Element | None = None
        for i in range(1, blanks + 1):
            marker = markers[i - 1] if i - 1 < len(markers) else ""
            # `label` keeps the author's own blank mark so the stem reads back unchanged.
            last = sub(
                p,
                "textEntryInteraction",
                responseIdentifier=f"RESPONSE_{i}",
                expectedLength="15",
                label=marker,
            )
            last.tail = pieces[i] if i < len(pieces) else ""
        if last is not None and len(pieces) > blanks + 1:
            last.tail = (last.tail or "") + "".join(
                m + s for m, s in zip(markers[blanks:], pieces[blanks + 1 :], strict=False)
            )

    def qti_process(self, root: ET.Element, record: ItemRecord) -> None:
        total = sub(sub(sub(root, "responseProcessing"), "setOutcomeValue", identifier="SCORE"), "sum")
        for i in range(1, len(record.key or []) + 1):
            sub(total, "mapResponse", identifier=f"RESPONSE_{i}")

    def qti_read(self, item: QtiItem) -> QtiRead:
        blanks = []
        for inter in item.interactions:
            decl = item.declaration(inter)
            answers = (
                [e.get("mapKey", "") for e in decl.findall("./mapping/mapEntry")] if decl is not None else []
            )
            if not answers and decl is not None:
                answers = [text_of(v) for v in decl.findall("./correctResponse/value")]
            blanks.append([a for a in answers if a.strip()])
        holder = next(el for el in item.body.iter() if any(c in item.interactions for c in el))
        parts = [holder.text or ""]
        for child in holder:
            if child in item.interactions:
                label = child.get("label")
                parts.append("（ ）" if label is None else label)
            else:
                parts.append(text_of(child))
            parts.append(child.tail or "")
        return QtiRead("".join(parts), {}, blanks, {})

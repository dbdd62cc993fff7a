"""判断题 (true/false): two options 正确 / 错误; the key is "A" (正确) or "B" (错误)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from item_bank.exchange.cells import parse_answer_letters
from item_bank.types.choice import ChoiceType

# What an answer cell may say instead of a letter.
JUDGE_ALIASES = {
    **dict.fromkeys(("正确", "对", "√", "✓", "T", "TRUE", "是"), "A"),
    **dict.fromkeys(("错误", "错", "×", "✗", "F", "FALSE", "否"), "B"),
}
# Option texts by which a QTI choice item from another system is recognised as true/false.
JUDGE_WORDS = {"正确", "错误", "对", "错", "true", "false", "是", "否"}


class TrueFalse(ChoiceType):
    name = "judge"
    label = "判断题"
    short_label = "判断"
    aliases = ("truefalse", "true_false")
    min_options = 2
    max_options = 2
    default_options = ("正确", "错误")
    key_hint = " A=正确、B=错误（也可写 正确 / 错误）"
    excel_key_check = ('OR({a}2="A",{a}2="B",{a}2="正确",{a}2="错误")', "填 A/B 或 正确/错误")

    def key_from_cell(self, text: str) -> str:
        word = unicodedata.normalize("NFKC", text).strip().upper()
        return JUDGE_ALIASES.get(word) or parse_answer_letters(text)

    def write_row(self, content: Mapping[str, Any], key: Any) -> dict[str, str]:
        # An office reads 正确 / 错误, not A / B; a pair of options of its own keeps the letter (which names it).
        options = tuple(str(o) for o in content.get("options") or self.default_options)
        if options == self.default_options and key in ("A", "B"):
            return {"answer": options["AB".index(key)]}
        return super().write_row(content, key)

    def qti_match(self, facts: Mapping[str, Any]) -> int:
        # More telling than "one answer", so it beats single choice for a 正确 / 错误 pair.
        words = {str(o).strip().casefold() for o in facts.get("options", ())}
        fits = super().qti_match(facts) and len(facts.get("options", ())) == 2 and words <= JUDGE_WORDS
        return 2 if fits else 0

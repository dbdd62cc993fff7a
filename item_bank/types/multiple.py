"""多选题 (multiple response): several options may be keys ("ACD"); the blueprint section chooses whether a
partly right answer earns all or nothing or a share per keyed option chosen."""

from __future__ import annotations

from typing import Any

from item_bank.types.base import ContentProblem, ItemContent
from item_bank.types.choice import ChoiceType

# Two or more letters A-H: every character of the cell is found among them.
_LETTERS_ONLY = 'SUMPRODUCT(--ISNUMBER(FIND(MID({a}2,ROW(INDIRECT("1:"&LEN({a}2))),1),"ABCDEFGH")))=LEN({a}2)'


class MultipleResponse(ChoiceType):
    name = "multiple"
    label = "多选题"
    short_label = "多选"
    aliases = ("多项选择", "多项选择题")
    several = True
    scoring_rules = ("exact", "all_or_nothing", "partial")
    renderer = "multiple-choice"
    answer_hint = "多选题：可选择多个选项，再点一次可取消。"
    key_hint = "多个字母（ACD）"
    shuffles_options = True
    excel_key_check = (f"AND(LEN({{a}}2)>=2,{_LETTERS_ONLY})", "填两个以上字母（A-H）")

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        reason = super().check_value(item, value)
        if reason is None and value is not None and value != "".join(sorted(set(value))):
            return "多选题答案应为按字母顺序排列、不重复的选项字母"
        return reason

    def import_warnings(self, item: ItemContent) -> list[ContentProblem]:
        options = self.options(item)
        key = item.key
        warnings = []
        if isinstance(key, str) and len(options) > 1 and len(set(key)) == len(options):
            warnings.append(ContentProblem("key", "多选题所有选项都是答案，请审题人确认"))
        if item.content.get("scoring") == "partial":
            warnings.append(
                ContentProblem(
                    "key",
                    "原题按选项映射给部分分（QTI map_response）：答案取得分的选项，组卷时所在大题请选“部分给分”",
                )
            )
        return warnings

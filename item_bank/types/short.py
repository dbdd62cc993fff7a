"""简答题 (short answer): a brief text answer, marked by graders against the rubric."""

from __future__ import annotations

from item_bank.types.human import HumanGraded


class ShortAnswer(HumanGraded):
    name = "short"
    label = "简答题"
    short_label = "简答"
    aliases = ("short_answer",)
    max_answer_chars = 1000

"""论述题 (essay): a long text answer, marked by graders against the rubric."""

from __future__ import annotations

from item_bank.types.human import HumanGraded


class Essay(HumanGraded):
    name = "essay"
    label = "论述题"
    short_label = "论述"
    max_answer_chars = 5000
    # A foreign package's answer box this long is an essay, a shorter one a short answer.
    qti_min_length = 2000

"""简答题 walked through: the page gets a text box with the type's length limit (never the model answer or the
rubric), a text is the only valid answer, submitting makes a grading task per item and no result, two
graders' marks complete the result, and the item analysis leaves the type to people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from item_bank.kernel import DomainError

RUBRIC = [{"criterion": "询问与核查身份", "points": 5}, {"criterion": "报告与报警", "points": 5}]
PAPER = [
    {
        "type": "short",
        "stem": "简述巡逻中发现可疑人员时的处置步骤。",
        "points": 10,
        "rubric": RUBRIC,
        "model_answer": "礼貌询问、核查身份；必要时报告上级并报警。",
    },
    {
        "type": "short",
        "stem": "简述门卫的主要职责。",
        "points": 10,
        "rubric": RUBRIC,
        "model_answer": "出入登记、核查证件、巡查报告。",
    },
]


def test_short_answer_walkthrough(walkthrough: Callable[..., Any]) -> None:
    w = walkthrough(PAPER, level=2)
    paper = w.sit(
        0, ["先询问并核查证件，再报告领班。", "登记来访人员并核查证件。"], refused=[42, ("字" * 1001, "value_too_large")]
    )
    view = paper[w.version_ids[0]]
    assert view["type"] == "short" and view["max_chars"] == 1000
    assert "rubric" not in view and "礼貌询问" not in str(view)
    assert w.result(0) is None

    tasks = w.tasks(0)
    assert [t.item_version_id for t in tasks] == w.version_ids and {t.max_points for t in tasks} == {10}
    assert w.assign() == 2
    w.mark_twice(tasks[0], [4, 3])
    assert w.result(0) is None  # one task still open
    w.mark_twice(tasks[1], [5, 4.5])
    assert w.points(0) == [7, 9.5] and w.result(0).score == 82.5

    with pytest.raises(DomainError, match="没有可自动评分的试题"):
        w.analysis()

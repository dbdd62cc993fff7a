"""论述题 walked through: the page gets a text box with the type's length limit (never the model answer or the
rubric), a text is the only valid answer, submitting makes a grading task and no result, two graders' marks
complete the result, and the item analysis leaves the type to people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from item_bank.kernel import DomainError

PAPER = [
    {
        "type": "essay",
        "stem": "结合工作实际，论述保安服务公司如何建立突发事件应急管理体系。",
        "points": 30,
        "rubric": [
            {"criterion": "观点明确", "points": 10},
            {"criterion": "措施可行", "points": 15},
            {"criterion": "结构与表达", "points": 5},
        ],
        "model_answer": "从风险评估、组织体系、预案与演练、培训、物资保障等方面论述。",
    },
]


def test_essay_walkthrough(walkthrough: Callable[..., Any]) -> None:
    w = walkthrough(PAPER, level=2)
    paper = w.sit(0, ["首先要做好风险评估……其次建立应急组织……"], refused=[["列表"]])
    w.sit(1, ["字" * 5000])  # the longest answer the type takes
    view = paper[w.version_ids[0]]
    assert view["type"] == "essay" and view["max_chars"] == 5000
    assert "rubric" not in view and "风险评估" not in str(view)
    assert w.result(0) is None

    (task,) = w.tasks(0)
    assert task.item_version_id == w.version_ids[0] and task.max_points == 30
    assert w.assign() == 2
    w.mark_twice(task, [8, 12.5, 4])
    assert w.points(0) == [24.5] and w.result(0).score == 81.7
    assert w.result(1) is None

    with pytest.raises(DomainError, match="没有可自动评分的试题"):
        w.analysis()

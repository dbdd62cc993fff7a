"""判断题 walked through: 正确 / 错误 as options A / B, one letter answers, the key earns the points, and the
analysis finds each item's p."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

PAPER = [
    {"type": "judge", "stem": "保安员可以对他人搜身。", "options": ["正确", "错误"], "key": "B", "points": 1},
    {"type": "judge", "stem": "发现火情应立即报警。", "options": ["正确", "错误"], "key": "A", "points": 1},
]
ANSWERS = [["B", "A"], ["B", "B"], ["A", "A"], [None, "A"]]


def test_true_false_walkthrough(walkthrough: Callable[..., Any]) -> None:
    w = walkthrough(PAPER)
    paper = w.sit(0, ANSWERS[0], refused=["AB", "C"])
    view = paper[w.version_ids[0]]
    assert view["type"] == "judge" and "key" not in view
    assert sorted((o["id"], o["text"]) for o in view["options"]) == [("A", "正确"), ("B", "错误")]
    for index, answers in enumerate(ANSWERS[1:], start=1):
        w.sit(index, answers)

    assert [w.points(i) for i in range(4)] == [[1, 1], [1, 0], [0, 1], [0, 1]]
    assert [w.result(i).score for i in range(4)] == [100.0, 50.0, 50.0, 50.0]

    (form,) = w.analysis().forms
    p = form.ctt.items["p"]
    assert [p[v] for v in w.version_ids] == pytest.approx([0.5, 0.75])

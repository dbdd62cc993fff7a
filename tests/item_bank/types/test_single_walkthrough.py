"""单选题 walked through: the paper shows options without the key, one letter is the only valid answer,
the chosen letter earns the item's points when it is the key, and the analysis finds each item's p."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

OPTIONS = ["报警", "逃离", "围观", "拍照"]
PAPER = [
    {"type": "single", "stem": f"发现火情应当（ ）。第 {n} 题", "options": OPTIONS, "key": key, "points": 2}
    for n, key in enumerate("ABC", start=1)
]
ANSWERS = [["A", "B", "C"], ["A", "B", "D"], ["A", "C", None], ["B", "D", None]]


def test_single_choice_walkthrough(walkthrough: Callable[..., Any]) -> None:
    w = walkthrough(PAPER)
    paper = w.sit(0, ANSWERS[0], refused=["AB", "Z", ["A"]])
    view = paper[w.version_ids[0]]
    assert view["type"] == "single" and "key" not in view
    assert sorted(o["id"] for o in view["options"]) == ["A", "B", "C", "D"]
    for index, answers in enumerate(ANSWERS[1:], start=1):
        w.sit(index, answers)

    assert [w.points(i) for i in range(4)] == [[2, 2, 2], [2, 2, 0], [2, 0, 0], [0, 0, 0]]
    assert [w.result(i).score for i in range(4)] == [100.0, 66.7, 33.3, 0.0]

    (form,) = w.analysis().forms
    p = form.ctt.items["p"]
    assert [p[v] for v in w.version_ids] == pytest.approx([0.75, 0.5, 0.25])

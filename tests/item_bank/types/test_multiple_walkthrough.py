"""多选题 walked through: several letters, sorted and without repeats, are the answer; a section on partial
credit gives a share per keyed option chosen and nothing once a wrong one is; the analysis finds each p."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

OPTIONS = ["灭火器", "消防栓", "雨伞", "防毒面具", "手电筒"]
PAPER = [
    {
        "type": "multiple",
        "stem": "下列属于消防器材的有（ ）。",
        "options": OPTIONS,
        "key": "ABD",
        "points": 3,
        "scoring_rule": "partial",
    },
    {
        "type": "multiple",
        "stem": "下列属于个人防护用品的有（ ）。",
        "options": OPTIONS,
        "key": "DE",
        "points": 2,
        "scoring_rule": "partial",
    },
]
ANSWERS = [["ABD", "DE"], ["AB", "D"], ["ABC", "DE"], [None, "E"]]


def test_multiple_response_walkthrough(walkthrough: Callable[..., Any]) -> None:
    w = walkthrough(PAPER)
    paper = w.sit(0, ANSWERS[0], refused=["BA", "AAB"])
    view = paper[w.version_ids[0]]
    assert view["type"] == "multiple" and "key" not in view and len(view["options"]) == 5
    for index, answers in enumerate(ANSWERS[1:], start=1):
        w.sit(index, answers)

    assert [w.points(i) for i in range(4)] == [[3, 2], [2, 1], [0, 2], [0, 1]]
    assert [w.result(i).score for i in range(4)] == [100.0, 60.0, 40.0, 20.0]

    (form,) = w.analysis().forms
    p = form.ctt.items["p"]
    assert [p[v] for v in w.version_ids] == pytest.approx([5 / 12, 6 / 8])

"""填空题 walked through: the page learns how many blanks there are (never their answers), an answer is a list
of texts, each blank earns its share when its normalised text is an accepted answer or synonym, and the
analysis finds each item's p."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

PAPER = [
    {
        "type": "fill",
        "stem": "火警电话是（ ），急救电话是（ ）。",
        "key": [["119"], ["120", "一二零"]],
        "points": 2,
    },
    {"type": "fill", "stem": "保安员证由（ ）核发。", "key": [["公安机关", "公安"]], "points": 2},
]
ANSWERS = [
    [["１１９", " 120 "], ["公安"]],
    [["119", "一二零"], ["派出所"]],
    [["110", "120"], None],
    [["", "110"], ["公 安 机 关"]],
]


def test_fill_in_walkthrough(walkthrough: Callable[..., Any]) -> None:
    w = walkthrough(PAPER)
    paper = w.sit(0, ANSWERS[0], refused=["119", ["1", "2", "3"]])
    view = paper[w.version_ids[0]]
    assert view["type"] == "fill" and view["blanks"] == 2 and "119" not in str(view)
    for index, answers in enumerate(ANSWERS[1:], start=1):
        w.sit(index, answers)

    assert [w.points(i) for i in range(4)] == [[2, 2], [2, 0], [1, 0], [0, 2]]
    assert [w.result(i).score for i in range(4)] == [100.0, 50.0, 25.0, 50.0]

    (form,) = w.analysis().forms
    p = form.ctt.items["p"]
    assert [p[v] for v in w.version_ids] == pytest.approx([5 / 8, 4 / 8])

"""题组 walked through: children of an item set are validated by the set type with their own types, travel to
the page with the shared stimulus, are scored by their own types (the set itself earns nothing) and analysed
like any item."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from sqlalchemy.orm import Session

from exam_server.grading import seed
from item_bank.item_sets import create_item_set
from item_bank.types import ItemContent, item_type
from item_bank.versions import ItemDraft

STIMULUS = "某小区夜间发生盗窃，保安员小王巡逻时发现一名形迹可疑的男子翻越围墙。"
PAPER = [
    {
        "type": "single",
        "stem": "小王首先应当（ ）。",
        "options": ["立即报告并监控", "独自追赶", "视而不见"],
        "key": "A",
        "points": 2,
    },
    {"type": "judge", "stem": "小王可以对该男子搜身。", "options": ["正确", "错误"], "key": "B", "points": 1},
]
ANSWERS = [["A", "B"], ["A", "A"], ["B", "B"], [None, None]]


def test_item_set_walkthrough(
    walkthrough: Callable[..., Any], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    children = [
        ItemContent(s["type"], s["stem"], {"options": s["options"]}, s["key"], s["points"]) for s in PAPER
    ]
    assert item_type("set").validate_set(ItemContent("set", STIMULUS), children) == []
    item_set = create_item_set(session, title="夜间盗窃", stimulus=STIMULUS, media=[], actor="system:test")
    session.commit()
    # The seeded paper's items are created as the set's children, in paper order.
    create_item, position = seed.create_item, count(1)

    def as_child(s: Session, draft: ItemDraft, **kwargs: Any) -> Any:
        draft.item_set_id, draft.set_position = item_set.id, next(position)
        return create_item(s, draft, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(seed, "create_item", as_child)
        w = walkthrough(PAPER)

    paper = w.sit(0, ANSWERS[0], refused=["D"])
    for version_id in w.version_ids:
        assert paper[version_id]["stimulus"]["text"] == STIMULUS and "key" not in paper[version_id]
    for index, answers in enumerate(ANSWERS[1:], start=1):
        w.sit(index, answers)

    assert [w.points(i) for i in range(4)] == [[2, 1], [2, 0], [0, 1], [0, 0]]
    assert [w.result(i).max_points for i in range(4)] == [3, 3, 3, 3]

    (form,) = w.analysis().forms
    p = form.ctt.items["p"]
    assert [p[v] for v in w.version_ids] == pytest.approx([0.5, 0.5])

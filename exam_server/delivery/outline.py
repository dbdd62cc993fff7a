"""The paper's outline as the instructions read it before the start: its sections (一、判断题 …) in the candidate's
order, how many items and points each has, and how its items are scored, in words."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.delivery.paper import form_items

# How a section's items are scored, as the candidate reads it (scoring/rules.py Rule).
SCORING_WORDS = {
    "all_or_nothing": "须选出全部正确答案才得分，多选、少选或错选均不得分",
    "partial": "每选对一个正确答案得相应的部分分数，选了任何一个错误答案则本题不得分",
}


@dataclass(frozen=True)
class Section:
    title: str
    count: int
    points: float
    # Points per item when every item of the section has the same, else None.
    each: float | None
    scoring: str

    @property
    def text(self) -> str:
        """“一、判断题：共 20 题，每题 1 分”, and how the items are scored where that needs saying."""
        worth = f"每题 {_number(self.each)} 分" if self.each is not None else f"共 {_number(self.points)} 分"
        words = SCORING_WORDS.get(self.scoring, "")
        return f"{self.title}：共 {self.count} 题，{worth}" + (f"，{words}" if words else "") + "。"


def _number(value: float | None) -> str:
    return "" if value is None else (str(int(value)) if float(value).is_integer() else f"{value:g}")


def paper_outline(session: Session, attempt: Attempt) -> list[Section]:
    """The attempt's sections in its item order (sections stay together in every candidate's order)."""
    items = form_items(session, attempt.form_id)
    groups: list[list[int]] = []
    titles: list[str] = []
    for version_id in attempt.item_order:
        frozen = items.get(version_id)
        if frozen is None:
            continue
        if not titles or titles[-1] != frozen.section:
            titles.append(frozen.section)
            groups.append([])
        groups[-1].append(version_id)
    outline = []
    for title, ids in zip(titles, groups, strict=True):
        points = [items[i].points for i in ids]
        rules = {items[i].scoring_rule for i in ids}
        outline.append(Section(
            title=title, count=len(ids), points=sum(points), each=points[0] if len(set(points)) == 1 else None,
            scoring=rules.pop() if len(rules) == 1 else "",
        ))
    return outline

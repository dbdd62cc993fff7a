"""The knowledge tree (知识点 / 鉴定要素): the shipped level-5 tree, lookups, and the bank manager's edits.

The tree follows the national occupational standard: 基本要求 (职业道德, 基础知识) and 工作要求
(职业功能 → 工作内容). Items point at areas by id, so renaming or moving an area never touches an item;
merging one area into another re-tags every version and leaves the old node behind as a pointer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.audit import audit
from item_bank.models import KnowledgeArea

THEORY = "theory"

# (code, name, kind, children). The leaves are the 15 content labels of the public bank
# (shared/data/README.md); 综合 is the bank's "not yet classified" label.
LEVEL5_THEORY_TREE: list[tuple[str, str, str, list]] = [
    (
        "1",
        "基本要求",
        "基本要求",
        [
            ("1.1", "职业道德", "职业道德", [("1.1.1", "职业道德与礼仪", "知识点", [])]),
            (
                "1.2",
                "基础知识",
                "基础知识",
                [
                    ("1.2.1", "法律基础知识", "知识点", []),
                    ("1.2.2", "保安服务法律法规", "知识点", []),
                    ("1.2.3", "保安服务业基础", "知识点", []),
                    ("1.2.4", "消防安全", "知识点", []),
                    ("1.2.5", "道路交通安全", "知识点", []),
                    ("1.2.6", "现场急救", "知识点", []),
                ],
            ),
        ],
    ),
    (
        "2",
        "工作要求",
        "工作要求",
        [
            (
                "2.1",
                "守护与出入管理",
                "职业功能",
                [
                    ("2.1.1", "门卫与出入口管理", "工作内容", []),
                    ("2.1.2", "押运与守护", "工作内容", []),
                    ("2.1.3", "随身护卫", "工作内容", []),
                ],
            ),
            (
                "2.2",
                "巡逻与安全检查",
                "职业功能",
                [("2.2.1", "巡逻", "工作内容", []), ("2.2.2", "安全检查与技防", "工作内容", [])],
            ),
            (
                "2.3",
                "秩序维护与应急处置",
                "职业功能",
                [
                    ("2.3.1", "秩序维护与大型活动", "工作内容", []),
                    ("2.3.2", "突发事件与应急处置", "工作内容", []),
                ],
            ),
        ],
    ),
    ("9", "综合", "label", []),
]

KINDS = (
    "基本要求",
    "工作要求",
    "职业道德",
    "基础知识",
    "职业功能",
    "工作内容",
    "技能要求",
    "知识点",
    "label",
)


class TreeError(Exception):
    """A knowledge-tree edit that cannot be made, with the area and the reason."""


@dataclass(frozen=True)
class AreaKey:
    level: int | None
    part: str


def ensure_standard_tree(session: Session, actor: str, level: int = 5, part: str = THEORY) -> int:
    """Create the shipped tree for `level`/`part` if that level has no areas yet; returns areas created."""
    if level != 5 or part != THEORY:
        return 0
    exists = session.scalar(
        select(func.count())
        .select_from(KnowledgeArea)
        .where(KnowledgeArea.level == level, KnowledgeArea.part == part)
    )
    if exists:
        return 0
    created = 0

    def add(nodes: list[tuple[str, str, str, list]], parent: KnowledgeArea | None) -> None:
        nonlocal created
        for position, (code, name, kind, children) in enumerate(nodes):
            area = KnowledgeArea(
                code=code, name=name, kind=kind, level=level, part=part, parent=parent, position=position
            )
            session.add(area)
            created += 1
            add(children, area)

    add(LEVEL5_THEORY_TREE, None)
    session.flush()
    audit(session, actor, "tree.seed", "knowledge_area", f"{level}/{part}", after={"areas": created})
    return created


class AreaIndex:
    """Finds an area by code or name for a level and part, following merges; built once per import."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(
            select(
                KnowledgeArea.id,
                KnowledgeArea.code,
                KnowledgeArea.name,
                KnowledgeArea.level,
                KnowledgeArea.part,
                KnowledgeArea.merged_into_id,
            )
        ).all()
        self._merged = {r.id: r.merged_into_id for r in rows if r.merged_into_id}
        self._by: dict[tuple[int | None, str, str], int] = {}
        self.labels: dict[int, str] = {}
        for r in rows:
            self.labels[r.id] = r.name
            # Codes win over names when both match different areas.
            self._by.setdefault((r.level, r.part, r.name.strip()), r.id)
        for r in rows:
            self._by[(r.level, r.part, r.code.strip())] = r.id

    def resolve(self, text: str, levels: list[int], part: str) -> int | None:
        """The live area named or coded `text` at one of `levels` (or level-free), else None."""
        text = text.strip()
        for level in [*levels, None]:
            area_id = self._by.get((level, part, text))
            if area_id is not None:
                return self._follow(area_id)
        return None

    def _follow(self, area_id: int) -> int:
        seen = set()
        while area_id in self._merged and area_id not in seen:
            seen.add(area_id)
            area_id = self._merged[area_id]
        return area_id


def area_path(area: KnowledgeArea) -> str:
    """The area's place in the tree, e.g. "基本要求 › 基础知识 › 消防安全"."""
    names = []
    node: KnowledgeArea | None = area
    while node is not None:
        names.append(node.name)
        node = node.parent
    return " › ".join(reversed(names))

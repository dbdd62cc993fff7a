"""The knowledge tree (知识点 / 鉴定要素): lookups, the screens' rows, and the bank manager's edits.

The tree follows the national occupational standard: 基本要求 (职业道德, 基础知识) and 工作要求
(职业功能 → 工作内容). Items point at areas by id, so renaming or moving an area never touches an item;
merging one area into another re-tags every version and leaves the old node behind as a pointer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from item_bank.audit import audit
from item_bank.kernel.errors import DomainError
from item_bank.models import AreaWeight, Item, ItemVersion, KnowledgeArea

THEORY = "theory"

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


class TreeError(DomainError):
    """A knowledge-tree edit that cannot be made, with the area and the reason."""

    default_code = "tree_refused"
    default_status = 409


PART_LABELS = {
    "theory": "理论知识",
    "skill": "操作技能",
    "written": "笔试",
    "thesis": "论文",
    "defence": "答辩",
}


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
        # Exports write "1.2.4 消防安全": the code decides, the name is for people.
        candidates = [text, text.split(maxsplit=1)[0]] if " " in text else [text]
        for candidate in candidates:
            for level in [*levels, None]:
                area_id = self._by.get((level, part, candidate))
                if area_id is not None:
                    return self._follow(area_id)
        return None

    def _follow(self, area_id: int) -> int:
        seen = set()
        while area_id in self._merged and area_id not in seen:
            seen.add(area_id)
            area_id = self._merged[area_id]
        return area_id


def area_names(session: Session, area_ids: set[int | None]) -> dict[int, str]:
    """The names of the given areas by id (None and unknown ids are left out)."""
    ids = {a for a in area_ids if a}
    if not ids:
        return {}
    return dict(
        session.execute(select(KnowledgeArea.id, KnowledgeArea.name).where(KnowledgeArea.id.in_(ids))).all()
    )


def area_path(area: KnowledgeArea) -> str:
    """The area's place in the tree, e.g. "基本要求 › 基础知识 › 消防安全"."""
    names = []
    node: KnowledgeArea | None = area
    while node is not None:
        names.append(node.name)
        node = node.parent
    return " › ".join(reversed(names))


# ----- the bank manager's edits -----


def _check_code(
    session: Session, level: int | None, part: str, code: str, exclude_id: int | None = None
) -> None:
    code = code.strip()
    if not code:
        raise TreeError("知识点代码不能为空")
    clash = session.scalar(
        select(KnowledgeArea).where(
            KnowledgeArea.level.is_(None) if level is None else KnowledgeArea.level == level,
            KnowledgeArea.part == part,
            KnowledgeArea.code == code,
        )
    )
    if clash is not None and clash.id != exclude_id:
        raise TreeError(f"代码 {code} 已被知识点“{clash.name}”使用")


def _snapshot(area: KnowledgeArea) -> dict[str, Any]:
    return {
        "code": area.code,
        "name": area.name,
        "kind": area.kind,
        "parent_id": area.parent_id,
        "position": area.position,
        "merged_into_id": area.merged_into_id,
    }


def create_area(
    session: Session,
    *,
    level: int | None,
    part: str,
    code: str,
    name: str,
    kind: str = "知识点",
    parent_id: int | None = None,
    actor: str,
) -> KnowledgeArea:
    """Add an area under `parent_id` (or at the root); the caller commits."""
    if not name.strip():
        raise TreeError("知识点名称不能为空")
    if kind not in KINDS:
        raise TreeError(f"类别 {kind} 无效（{'、'.join(KINDS)}）")
    _check_code(session, level, part, code)
    parent = session.get(KnowledgeArea, parent_id) if parent_id else None
    if parent_id and (parent is None or parent.merged_into_id):
        raise TreeError("上级知识点不存在或已合并")
    if parent is not None and (parent.level != level or parent.part != part):
        raise TreeError("上级知识点属于另一个等级或科目")
    position = (
        session.scalar(
            select(func.max(KnowledgeArea.position)).where(
                KnowledgeArea.parent_id == parent_id if parent_id else KnowledgeArea.parent_id.is_(None),
                KnowledgeArea.level.is_(None) if level is None else KnowledgeArea.level == level,
                KnowledgeArea.part == part,
            )
        )
        or 0
    ) + 1
    area = KnowledgeArea(
        level=level,
        part=part,
        code=code.strip(),
        name=name.strip(),
        kind=kind,
        parent_id=parent_id,
        position=position,
    )
    session.add(area)
    session.flush()
    audit(session, actor, "tree.create", "knowledge_area", area.id, None, _snapshot(area))
    return area


def update_area(
    session: Session,
    area: KnowledgeArea,
    *,
    actor: str,
    name: str | None = None,
    code: str | None = None,
    kind: str | None = None,
) -> KnowledgeArea:
    """Rename or re-code an area; items keep their tag because they point at the id."""
    if area.merged_into_id:
        raise TreeError(f"知识点“{area.name}”已合并，不能修改")
    before = _snapshot(area)
    if name is not None:
        if not name.strip():
            raise TreeError("知识点名称不能为空")
        area.name = name.strip()
    if code is not None and code.strip() != area.code:
        _check_code(session, area.level, area.part, code, exclude_id=area.id)
        area.code = code.strip()
    if kind is not None:
        if kind not in KINDS:
            raise TreeError(f"类别 {kind} 无效")
        area.kind = kind
    audit(session, actor, "tree.update", "knowledge_area", area.id, before, _snapshot(area))
    return area


def descendants(session: Session, area_id: int) -> set[int]:
    """Ids of `area_id` and every area beneath it, merged areas included (they count for their target)."""
    rows = session.execute(
        select(KnowledgeArea.id, KnowledgeArea.parent_id, KnowledgeArea.merged_into_id)
    ).all()
    children: dict[int, list[int]] = {}
    for rid, parent, merged in rows:
        up = merged or parent
        if up:
            children.setdefault(up, []).append(rid)
    out, stack = set(), [area_id]
    while stack:
        node = stack.pop()
        if node in out:
            continue
        out.add(node)
        stack.extend(children.get(node, ()))
    return out


def move_area(
    session: Session, area: KnowledgeArea, *, parent_id: int | None, position: int | None = None, actor: str
) -> KnowledgeArea:
    """Move an area (with its subtree and items) under another parent of the same level and part."""
    if area.merged_into_id:
        raise TreeError(f"知识点“{area.name}”已合并，不能移动")
    if parent_id is not None:
        parent = session.get(KnowledgeArea, parent_id)
        if parent is None or parent.merged_into_id:
            raise TreeError("目标上级知识点不存在或已合并")
        if parent.level != area.level or parent.part != area.part:
            raise TreeError("不能移动到另一个等级或科目的知识树")
        if parent_id in descendants(session, area.id):
            raise TreeError(f"不能把“{area.name}”移动到它自己的下级")
    before = _snapshot(area)
    area.parent_id = parent_id
    if position is not None:
        area.position = position
    audit(session, actor, "tree.move", "knowledge_area", area.id, before, _snapshot(area))
    return area


def merge_areas(session: Session, source: KnowledgeArea, target: KnowledgeArea, *, actor: str) -> int:
    """Merge `source` into `target`: its children move under the target, its weight is added to the
    target's, and it stays as a pointer so every item tagged with it now counts for the target.

    Returns how many item versions now count for the target through the merge.
    """
    if source.id == target.id:
        raise TreeError("不能与自身合并")
    if source.merged_into_id or target.merged_into_id:
        raise TreeError("已合并的知识点不能再参与合并")
    if source.level != target.level or source.part != target.part:
        raise TreeError("只能合并同一等级、同一科目的知识点")
    if target.id in descendants(session, source.id):
        raise TreeError(f"不能把“{source.name}”合并到它自己的下级")
    before = _snapshot(source)
    for child in list(source.children):
        child.parent_id = target.id
    source.merged_into_id = target.id
    for weight in session.scalars(select(AreaWeight).where(AreaWeight.area_id == source.id)):
        into = session.scalar(
            select(AreaWeight).where(
                AreaWeight.area_id == target.id,
                AreaWeight.level == weight.level,
                AreaWeight.part == weight.part,
            )
        )
        if into is None:
            weight.area_id = target.id
        else:
            into.share = round(into.share + weight.share, 6)
            session.delete(weight)
    tagged = session.scalar(
        select(func.count()).select_from(ItemVersion).where(ItemVersion.knowledge_area_id == source.id)
    )
    audit(
        session,
        actor,
        "tree.merge",
        "knowledge_area",
        source.id,
        before,
        {**_snapshot(source), "into": target.name, "versions": tagged},
    )
    return int(tagged or 0)


def weight_table(session: Session, level: int, part: str) -> dict[int, float]:
    """The weight table (比重表) of a level and part: area id -> share of the paper's points (0-1)."""
    return dict(
        session.execute(
            select(AreaWeight.area_id, AreaWeight.share).where(
                AreaWeight.level == level, AreaWeight.part == part
            )
        ).all()
    )


def set_weight_table(
    session: Session, level: int, part: str, shares: dict[int, float], *, actor: str
) -> None:
    """Replace the weight table of a level and part; shares are 0-1 and sum to at most 1."""
    problems = []
    known = {
        a.id: a
        for a in session.scalars(select(KnowledgeArea).where(KnowledgeArea.id.in_(list(shares))))
        if not a.merged_into_id
    }
    for area_id, share in shares.items():
        if area_id not in known:
            problems.append(f"知识点 {area_id} 不存在或已合并")
        elif known[area_id].part != part or known[area_id].level not in (level, None):
            problems.append(f"知识点“{known[area_id].name}”不属于 {level} 级{PART_LABELS.get(part, part)}")
        if not 0 <= share <= 1:
            problems.append(f"比重 {share * 100:g}% 应在 0% 到 100% 之间")
    total = sum(shares.values())
    if total > 1 + 1e-6:
        # The weight table is edited in percent, so its errors speak percent too.
        problems.append(f"比重合计 {round(total * 100, 2):g}%，不能超过 100%")
    if problems:
        raise TreeError("；".join(problems))
    before = {str(k): v for k, v in weight_table(session, level, part).items()}
    session.execute(delete(AreaWeight).where(AreaWeight.level == level, AreaWeight.part == part))
    for area_id, share in shares.items():
        if share > 0:
            session.add(AreaWeight(level=level, part=part, area_id=area_id, share=float(share)))
    audit(
        session,
        actor,
        "tree.weights",
        "area_weight",
        f"{level}/{part}",
        before,
        {str(k): v for k, v in shares.items() if v > 0},
    )


@dataclass
class AreaRow:
    """One line of the tree as screens show it."""

    area: KnowledgeArea
    depth: int
    path: str
    weight: float | None
    counts: dict[str, int]


def tree_rows(
    session: Session, level: int | None, part: str = THEORY, with_merged: bool = False, counts: bool = True
) -> list[AreaRow]:
    """The tree of a level and part in display order, with each area's weight and version counts by status
    (current versions, counted for the area and the areas merged into it)."""
    areas = list(
        session.scalars(
            select(KnowledgeArea).where(
                KnowledgeArea.level.is_(None) if level is None else KnowledgeArea.level == level,
                KnowledgeArea.part == part,
            )
        )
    )
    weights = weight_table(session, level, part) if level is not None else {}
    raw = (
        session.execute(
            select(ItemVersion.knowledge_area_id, ItemVersion.status, func.count())
            .join(Item, Item.current_version_id == ItemVersion.id)
            .where(ItemVersion.knowledge_area_id.in_([a.id for a in areas]))
            .group_by(ItemVersion.knowledge_area_id, ItemVersion.status)
        ).all()
        if counts
        else []
    )
    merged_to = {a.id: a.merged_into_id for a in areas if a.merged_into_id}
    by_area: dict[int, dict[str, int]] = {}
    for area_id, status, n in raw:
        target = area_id
        while target in merged_to:
            target = merged_to[target]
        by_area.setdefault(target, {}).setdefault(status, 0)
        by_area[target][status] += n
    by_parent: dict[int | None, list[KnowledgeArea]] = {}
    for a in areas:
        if a.merged_into_id and not with_merged:
            continue
        by_parent.setdefault(a.parent_id, []).append(a)
    rows: list[AreaRow] = []

    def walk(parent: int | None, depth: int, prefix: str) -> None:
        for a in sorted(by_parent.get(parent, []), key=lambda x: (x.position, x.code)):
            path = f"{prefix} › {a.name}" if prefix else a.name
            rows.append(AreaRow(a, depth, path, weights.get(a.id), by_area.get(a.id, {})))
            walk(a.id, depth + 1, path)

    walk(None, 0, "")
    return rows

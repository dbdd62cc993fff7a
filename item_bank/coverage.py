"""Bank coverage: approved items per level × knowledge area × type, against what the blueprints need.

A blueprint section of `count` items of a type, with an area's share `s` of the points, needs about
ceil(count × s) items of that type in that area for one form; the table shows the most any blueprint
of the level and part needs, and how many parallel forms the approved bank could fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from item_bank.blueprints import BlueprintError, spec_of
from item_bank.models import APPROVED, AreaWeight, Blueprint, ItemVersion, KnowledgeArea
from item_bank.tree import AreaIndex, descendants, tree_rows

AUTO_TYPES = ("judge", "single", "multiple", "fill", "short", "essay")


@dataclass
class CoverageRow:
    area_id: int | None
    label: str
    depth: int
    share: float | None
    have: dict[str, int] = field(default_factory=dict)
    need: dict[str, int] = field(default_factory=dict)

    def short(self, item_type: str) -> int:
        """How many items of `item_type` are missing for one form (0 when covered)."""
        return max(0, self.need.get(item_type, 0) - self.have.get(item_type, 0))

    def forms(self, item_type: str) -> int | None:
        """How many forms' worth of items the bank holds for this cell (None if nothing is needed)."""
        need = self.need.get(item_type, 0)
        return self.have.get(item_type, 0) // need if need else None


@dataclass
class CoverageTable:
    level: int
    part: str
    types: list[str]
    rows: list[CoverageRow]
    blueprints: list[str]
    unclassified: dict[str, int]
    totals: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def short_cells(self) -> int:
        return sum(1 for r in self.rows for t in self.types if r.short(t))


def coverage(session: Session, level: int, part: str = "theory") -> CoverageTable:
    """The coverage table of a level and part (rows: the weight table's areas, else the whole tree)."""
    specs = []
    problems = []
    for bp in session.scalars(select(Blueprint).where(Blueprint.level == level, Blueprint.part == part)):
        try:
            specs.append(spec_of(bp))
        except BlueprintError as exc:
            problems.append(f"蓝图 {bp.name} 无法读取: {exc}")
    index = AreaIndex(session)
    weights = dict(
        session.execute(
            select(AreaWeight.area_id, AreaWeight.share).where(
                AreaWeight.level == level, AreaWeight.part == part
            )
        ).all()
    )
    # Blueprint shares by area id (keys are codes or names).
    bp_shares: list[tuple[str, dict[int, float], dict[str, int]]] = []
    for spec in specs:
        shares: dict[int, float] = {}
        for key, share in spec.area_shares.items():
            area_id = index.resolve(key, [level], part)
            if area_id is None:
                problems.append(f"蓝图 {spec.name} 的知识点 {key} 不在知识树中")
            else:
                shares[area_id] = share
        bp_shares.append((spec.name, shares, {s.type: s.count for s in spec.sections}))
    types = sorted({t for _, _, sections in bp_shares for t in sections}, key=_type_order) or [
        t for t in AUTO_TYPES if t in ("judge", "single", "multiple")
    ]

    tree = tree_rows(session, level, part)
    wanted = set(weights) | {a for _, shares, _ in bp_shares for a in shares}
    if wanted:
        rows = [
            CoverageRow(r.area.id, r.path, r.depth, weights.get(r.area.id))
            for r in tree
            if r.area.id in wanted
        ]
    else:
        rows = [
            CoverageRow(r.area.id, r.path, r.depth, weights.get(r.area.id))
            for r in tree
            if not r.area.children
        ]

    counts = session.execute(
        select(ItemVersion.knowledge_area_id, ItemVersion.type, func.count())
        .where(
            ItemVersion.status == APPROVED,
            ItemVersion.part == part,
            cast(ItemVersion.levels, String).like(f"%{int(level)}%"),
        )
        .group_by(ItemVersion.knowledge_area_id, ItemVersion.type)
    ).all()
    by_area: dict[int | None, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for area_id, item_type, n in counts:
        by_area.setdefault(area_id, {})[item_type] = n
        totals[item_type] = totals.get(item_type, 0) + n
    for row in rows:
        assert row.area_id is not None
        for area_id in descendants(session, row.area_id):
            for item_type, n in by_area.get(area_id, {}).items():
                row.have[item_type] = row.have.get(item_type, 0) + n
        for _, shares, sections in bp_shares:
            share = shares.get(row.area_id)
            if share is None:
                continue
            for item_type, count in sections.items():
                need = math.ceil(count * share - 1e-9)
                row.need[item_type] = max(row.need.get(item_type, 0), need)
    return CoverageTable(
        level=level,
        part=part,
        types=types,
        rows=rows,
        blueprints=[name for name, _, _ in bp_shares],
        unclassified=by_area.get(None, {}),
        totals=totals,
        problems=problems,
    )


def _type_order(t: str) -> int:
    return AUTO_TYPES.index(t) if t in AUTO_TYPES else len(AUTO_TYPES)


def levels_in_bank(session: Session) -> list[int]:
    """Levels that have a knowledge tree or a blueprint (for the coverage screen's level switch)."""
    levels = set(
        session.scalars(select(KnowledgeArea.level).where(KnowledgeArea.level.is_not(None)).distinct())
    )
    levels |= set(session.scalars(select(Blueprint.level).distinct()))
    return sorted(levels) or [5]

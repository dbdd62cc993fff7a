"""Test banks for assembly, written straight into Item / ItemVersion rows (status "approved").

The importer is another engineer's; these helpers only need the columns assembly reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from item_bank.blueprints import BlueprintSpec, SectionSpec
from item_bank.models import APPROVED, Item, ItemSet, ItemVersion, KnowledgeArea

OPTIONS = {
    "single": ["甲", "乙", "丙", "丁"],
    "multiple": ["甲", "乙", "丙", "丁", "戊"],
    "judge": ["正确", "错误"],
}
KEYS = {"single": "B", "multiple": "ACD", "judge": "A"}


def make_areas(
    session: Session, names: list[str], level: int | None = None, part: str = "theory"
) -> dict[str, KnowledgeArea]:
    """Knowledge areas with codes A01, A02 ... and the given names."""
    out = {}
    for i, name in enumerate(names, start=1):
        area = KnowledgeArea(code=f"A{i:02d}", name=name, level=level, part=part, position=i)
        session.add(area)
        out[name] = area
    session.flush()
    return out


class BankBuilder:
    """Adds approved items one by one; keeps a running external id."""

    def __init__(self, session: Session, prefix: str = "T") -> None:
        self.session = session
        self.prefix = prefix
        self.n = 0

    def add(
        self,
        type_: str,
        area: KnowledgeArea | None,
        *,
        levels: list[int] | None = None,
        p: float | None = None,
        irt: tuple[float, float, float] | None = None,
        enemy: str | None = None,
        item_set: ItemSet | None = None,
        set_position: int = 0,
        stem: str | None = None,
        status: str = APPROVED,
        exposure: int = 0,
        part: str = "theory",
        cognitive_level: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> ItemVersion:
        self.n += 1
        ext = f"{self.prefix}-{self.n:05d}"
        item = Item(external_id=ext)
        self.session.add(item)
        self.session.flush()
        version = ItemVersion(
            item_id=item.id,
            version_no=1,
            status=status,
            type=type_,
            stem=stem or f"第 {self.n} 题（{type_}）题干内容",
            content={"options": list(OPTIONS.get(type_, []))},
            key=KEYS.get(type_),
            points=1.0,
            levels=levels if levels is not None else [5],
            part=part,
            knowledge_area_id=area.id if area is not None else None,
            item_set_id=item_set.id if item_set is not None else None,
            set_position=set_position,
            enemy_group=enemy,
            difficulty=p,
            irt_a=irt[0] if irt else None,
            irt_b=irt[1] if irt else None,
            irt_c=irt[2] if irt else None,
            exposure_count=exposure,
            cognitive_level=cognitive_level,
            attributes=attributes or {},
        )
        self.session.add(version)
        self.session.flush()
        item.current_version_id = version.id
        return version

    def add_many(
        self, n: int, type_: str, area: KnowledgeArea, rng: np.random.Generator | None = None, **kw: Any
    ) -> list[ItemVersion]:
        out = []
        for _ in range(n):
            extra = dict(kw)
            if rng is not None and "p" not in extra:
                extra["p"] = float(np.clip(rng.beta(7, 3), 0.05, 0.98))
            if rng is not None and "irt" not in extra:
                extra["irt"] = (
                    float(rng.lognormal(0, 0.3)),
                    float(rng.normal(0, 1)),
                    0.2 if type_ != "judge" else 0.5,
                )
            out.append(self.add(type_, area, **extra))
        return out

    def add_set(
        self, n_children: int, type_: str, area: KnowledgeArea, **kw: Any
    ) -> tuple[ItemSet, list[ItemVersion]]:
        self.n += 1
        item_set = ItemSet(
            external_id=f"{self.prefix}-SET-{self.n:05d}", title="情景", stimulus="某小区夜间巡逻时……"
        )
        self.session.add(item_set)
        self.session.flush()
        children = [
            self.add(type_, area, item_set=item_set, set_position=i + 1, **kw) for i in range(n_children)
        ]
        return item_set, children


def small_spec(name: str = "测试蓝图", **kw: Any) -> BlueprintSpec:
    """A 10-item paper: 4 judge, 4 single, 2 multiple, over areas 法律 / 消防 (codes A01 / A02)."""
    base: dict[str, Any] = dict(
        name=name,
        level=5,
        part="theory",
        duration_s=1800,
        sections=[
            SectionSpec("judge", 4, 1.0),
            SectionSpec("single", 4, 1.0),
            SectionSpec("multiple", 2, 2.0, "all_or_nothing"),
        ],
        area_shares={"A01": 0.5, "A02": 0.5},
        area_tolerance=0.05,
    )
    base.update(kw)
    return BlueprintSpec(**base)


def rich_bank(session: Session, per_cell: int = 12, seed: int = 1) -> dict[str, KnowledgeArea]:
    """Two areas × three types, `per_cell` approved items each, with p and IRT parameters."""
    rng = np.random.default_rng(seed)
    areas = make_areas(session, ["法律", "消防"])
    bank = BankBuilder(session)
    for area in areas.values():
        for t in ("judge", "single", "multiple"):
            bank.add_many(per_cell, t, area, rng)
    session.flush()
    return areas


def load_shared_bank(session: Session, csv_path: Path) -> dict[str, KnowledgeArea]:
    """The shared 1,696-item bank as level-5 approved items, one area per content label (code = label)."""
    df = pd.read_csv(csv_path)
    areas = {}
    for i, label in enumerate(sorted(df["knowledge_area"].unique()), start=1):
        area = KnowledgeArea(code=label, name=label, level=None, part="theory", position=i)
        session.add(area)
        areas[label] = area
    session.flush()
    items = [Item(external_id=row.id) for row in df.itertuples()]
    session.add_all(items)
    session.flush()
    versions = []
    for item, row in zip(items, df.itertuples(), strict=True):
        versions.append(
            ItemVersion(
                item_id=item.id,
                version_no=1,
                status=APPROVED,
                type=row.type,
                stem=row.stem,
                content={"options": json.loads(row.options)},
                key=row.answer,
                points=1.0,
                levels=[5],
                part="theory",
                knowledge_area_id=areas[row.knowledge_area].id,
                source=str(row.source),
            )
        )
    session.add_all(versions)
    session.flush()
    return areas


def demo_spec(bank_shares: dict[str, float], name: str = "初级保安员理论知识") -> BlueprintSpec:
    """The demo paper: 100 items at 1 point — 20 judge, 60 single, 20 multiple (all-or-nothing), 90 min."""
    return BlueprintSpec(
        name=name,
        level=5,
        part="theory",
        duration_s=90 * 60,
        sections=[
            SectionSpec("judge", 20, 1.0, title="判断题"),
            SectionSpec("single", 60, 1.0, title="单选题"),
            SectionSpec("multiple", 20, 1.0, "all_or_nothing", title="多选题"),
        ],
        area_shares=bank_shares,
        area_tolerance=0.03,
    )

"""The thesis and defence rubrics of levels 2 (保安师) and 1 (高级保安师), as data.

`ensure_rubrics` stores them as `Rubric` rows once; staff change a rubric by adding a new version
(`add_rubric_version`), so tasks already created keep the rubric they were marked on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.grading.models import Rubric
from item_bank.audit import audit
from item_bank.kernel import DomainError, system_actor

# Stored as data beside this module (default_rubrics.json) so the centre can read and change them without code.
DEFAULT_RUBRICS: dict[tuple[int, str], dict[str, Any]] = {
    (entry["level"], entry["part"]): {"name": entry["name"], "criteria": entry["criteria"]}
    for entry in json.loads((Path(__file__).with_name("default_rubrics.json")).read_text(encoding="utf-8"))
}


# The server stores the default rubrics itself, the first time a thesis or defence needs one.
SYSTEM_ACTOR = system_actor("rubrics")


class RubricError(DomainError, ValueError):
    """A rubric that cannot be used; names what is wrong."""

    default_code = "rubric_invalid"
    default_status = 400


def _check_criteria(criteria: list[dict[str, Any]]) -> float:
    if not criteria:
        raise RubricError("评分表至少要有一条评分要点")
    total = 0.0
    for i, c in enumerate(criteria, start=1):
        if not str(c.get("criterion") or "").strip():
            raise RubricError(f"第 {i} 条评分要点没有名称")
        pts = c.get("points")
        if not isinstance(pts, int | float) or isinstance(pts, bool) or pts <= 0:
            raise RubricError(f"第 {i} 条评分要点「{c.get('criterion')}」的分值应大于 0")
        total += float(pts)
    return total


def current_rubric(session: Session, level: int, part: str) -> Rubric:
    """The newest rubric for a level's thesis or defence, storing the default ones first if needed."""
    ensure_rubrics(session)
    rubric = session.scalar(
        select(Rubric).where(Rubric.level == level, Rubric.part == part).order_by(Rubric.version.desc()).limit(1)
    )
    if rubric is None:
        raise RubricError(f"等级 {level} 没有「{part}」评分表（只有 2 级和 1 级有论文答辩）")
    return rubric


def _store(session: Session, level: int, part: str, version: int, name: str, criteria: list[dict[str, Any]],
           actor: str) -> Rubric:
    total = _check_criteria(criteria)
    row = Rubric(level=level, part=part, version=version, name=name, criteria=criteria, max_points=total)
    session.add(row)
    session.flush()
    audit(session, actor, "grading.rubric_add", "grading_rubric", row.id,
          after={"level": level, "part": part, "version": version, "max_points": total})
    return row


def ensure_rubrics(session: Session, actor: str = SYSTEM_ACTOR) -> int:
    """Store the default rubrics that are not stored yet; returns how many were added (flushes)."""
    have = {(lv, pt) for lv, pt in session.execute(select(Rubric.level, Rubric.part)).all()}
    missing = [(key, data) for key, data in DEFAULT_RUBRICS.items() if key not in have]
    for (level, part), data in missing:
        _store(session, level, part, 1, data["name"], data["criteria"], actor)
    return len(missing)


def add_rubric_version(
    session: Session, level: int, part: str, name: str, criteria: list[dict[str, Any]], actor: str
) -> Rubric:
    """A new version of a level's thesis or defence rubric; tasks created from now on use it (flushes)."""
    if part not in ("thesis", "defence"):
        raise RubricError(f"评分表只用于论文（thesis）或答辩（defence），不是 {part!r}")
    latest = session.scalar(
        select(func.max(Rubric.version)).where(Rubric.level == level, Rubric.part == part)
    ) or 0
    return _store(session, level, part, latest + 1, name.strip() or f"{level}级 {part}", criteria, actor)

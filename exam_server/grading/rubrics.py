"""The thesis and defence rubrics of levels 2 (保安师) and 1 (高级保安师), as data.

`ensure_rubrics` stores them as `Rubric` rows once; staff change a rubric by adding a new version
(`add_rubric_version`), so tasks already created keep the rubric they were marked on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.grading.models import Rubric
from item_bank.audit import audit

DEFAULT_RUBRICS: dict[tuple[int, str], dict[str, Any]] = {
    (2, "thesis"): {
        "name": "保安师 论文评分表",
        "criteria": [
            {"criterion": "选题与实践价值", "points": 15, "guide": "选题源于保安服务实际，问题明确，有应用价值"},
            {"criterion": "内容与论证", "points": 35, "guide": "观点正确，材料充分，分析有据，措施可行"},
            {"criterion": "结构与逻辑", "points": 20, "guide": "层次清楚，前后连贯，结论与论证一致"},
            {"criterion": "专业知识运用", "points": 20, "guide": "正确运用保安业务与法律法规知识"},
            {"criterion": "文字表达与格式规范", "points": 10, "guide": "语言通顺，用语规范，格式与字数符合要求"},
        ],
    },
    (2, "defence"): {
        "name": "保安师 答辩评分表",
        "criteria": [
            {"criterion": "论文陈述", "points": 25, "guide": "在规定时间内讲清论文的问题、方法与结论"},
            {"criterion": "回答问题的准确性", "points": 35, "guide": "切题，答案正确、完整"},
            {"criterion": "专业知识与实务能力", "points": 25, "guide": "体现保安服务组织、管理与处置能力"},
            {"criterion": "表达与仪态", "points": 15, "guide": "表达清楚，举止得体"},
        ],
    },
    (1, "thesis"): {
        "name": "高级保安师 论文评分表",
        "criteria": [
            {"criterion": "选题与创新", "points": 20, "guide": "选题有前瞻性，对保安服务管理有新的见解"},
            {"criterion": "内容与论证", "points": 30, "guide": "论证严密，数据与案例可靠，对策可行"},
            {"criterion": "管理与实践价值", "points": 20, "guide": "对企业或行业的管理改进有推广价值"},
            {"criterion": "结构与逻辑", "points": 15, "guide": "结构完整，逻辑清楚"},
            {"criterion": "文字表达与格式规范", "points": 15, "guide": "语言准确，引用规范，格式符合要求"},
        ],
    },
    (1, "defence"): {
        "name": "高级保安师 答辩评分表",
        "criteria": [
            {"criterion": "论文陈述", "points": 20, "guide": "重点突出，时间控制得当"},
            {"criterion": "回答问题的准确性与深度", "points": 40, "guide": "切题、正确，有分析深度"},
            {"criterion": "组织管理与决策能力", "points": 25, "guide": "体现培训指导、组织管理与应急决策能力"},
            {"criterion": "表达与仪态", "points": 15, "guide": "表达清楚，举止得体"},
        ],
    },
}


class RubricError(ValueError):
    """A rubric that cannot be used; names what is wrong."""


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


def ensure_rubrics(session: Session, actor: str = "system") -> int:
    """Store the default rubrics that are not stored yet; returns how many were added (flushes)."""
    have = {(lv, pt) for lv, pt in session.execute(select(Rubric.level, Rubric.part)).all()}
    added = 0
    for (level, part), data in DEFAULT_RUBRICS.items():
        if (level, part) in have:
            continue
        total = _check_criteria(data["criteria"])
        row = Rubric(level=level, part=part, version=1, name=data["name"], criteria=data["criteria"],
                     max_points=total)
        session.add(row)
        session.flush()
        audit(session, actor, "grading.rubric_add", "grading_rubric", row.id,
              after={"level": level, "part": part, "version": 1, "max_points": total})
        added += 1
    return added


def add_rubric_version(
    session: Session, level: int, part: str, name: str, criteria: list[dict[str, Any]], actor: str
) -> Rubric:
    """A new version of a level's thesis or defence rubric; tasks created from now on use it (flushes)."""
    if part not in ("thesis", "defence"):
        raise RubricError(f"评分表只用于论文（thesis）或答辩（defence），不是 {part!r}")
    total = _check_criteria(criteria)
    latest = session.scalar(
        select(func.max(Rubric.version)).where(Rubric.level == level, Rubric.part == part)
    ) or 0
    row = Rubric(level=level, part=part, version=latest + 1, name=name.strip() or f"{level}级 {part}",
                 criteria=criteria, max_points=total)
    session.add(row)
    session.flush()
    audit(session, actor, "grading.rubric_add", "grading_rubric", row.id,
          after={"level": level, "part": part, "version": row.version, "max_points": total})
    return row

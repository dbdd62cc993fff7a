"""Stations and their score sheets as data: the shipped file (skills/stations.json, the national standard's
level 5-3 stations as examples) or a centre's edited copy, imported all or nothing.

Each station names its 技能要求 area by code in the level's skill tree (item_bank/data/standard_trees.json,
`examctl tree standard`). A station not scored yet is updated in place; one already scored keeps its version for
the sittings that used it, and the changed sheet becomes a new version.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.skills.errors import RowProblem, SkillFileError
from exam_server.skills.models import SkillMark, Station
from item_bank.audit import audit
from item_bank.models import KnowledgeArea
from item_bank.tree_exchange import STANDARD_TREES, import_tree

STATIONS_FILE = Path(__file__).resolve().parent / "stations.json"
SKILL_LEVELS = (5, 4, 3)
# What an edit may change; a difference in any of these makes a scored station a new version.
SHEET_FIELDS = ("level", "title", "task", "duration_min", "weight", "tolerance", "mark_step", "criteria", "max_points")


@dataclass
class SheetLine:
    """One station of a file, checked: its fields as stored and the area code it names."""

    index: int
    code: str
    area: str
    fields: dict[str, Any]


@dataclass
class StationReport:
    file: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    versioned: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.file}：新建 {len(self.created)} 个考站，更新 {len(self.updated)} 个，"
               f"已评分的考站改为新版本 {len(self.versioned)} 个，未变 {len(self.unchanged)} 个"]
        if self.versioned:
            out.append("新版本：" + "、".join(self.versioned))
        return out


def _number(raw: Any, where: str, name: str, problems: list[RowProblem], file: str, row: int,
            positive: bool = True) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        problems.append(RowProblem(file, row, f"{where}{name}", f"应为数字，实际为 {raw!r}"))
        return 0.0
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        problems.append(RowProblem(file, row, f"{where}{name}", f"应为{'正数' if positive else '非负数'}，实际为 {raw!r}"))
    return value


def check_stations(doc: Any, file: str) -> tuple[list[SheetLine], list[RowProblem]]:
    """The stations of a parsed file, each checked; every problem names the station (its position, 1-based, as
    the row) and the field."""
    problems: list[RowProblem] = []
    raw_list = doc.get("stations") if isinstance(doc, dict) else None
    if not isinstance(raw_list, list) or not raw_list:
        return [], [RowProblem(file, None, "stations", "应为非空的考站列表")]
    lines: list[SheetLine] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_list, start=1):
        if not isinstance(raw, dict):
            problems.append(RowProblem(file, i, "stations", "应为键值表"))
            continue
        code = str(raw.get("code") or "").strip()
        where = f"{code or f'第 {i} 个考站'} "
        if not code:
            problems.append(RowProblem(file, i, "code", "考站编号不能为空"))
        elif code in seen:
            problems.append(RowProblem(file, i, "code", f"考站编号 {code} 重复（第 {seen[code]} 个已使用）"))
        seen.setdefault(code, i)
        level = raw.get("level")
        if level not in SKILL_LEVELS:
            problems.append(RowProblem(file, i, f"{where}level", f"操作技能考站的等级应为 5、4 或 3，实际为 {level!r}"))
        title = str(raw.get("title") or "").strip()
        if not title:
            problems.append(RowProblem(file, i, f"{where}title", "考站名称不能为空"))
        area = str(raw.get("area") or "").strip()
        if not area:
            problems.append(RowProblem(file, i, f"{where}area", "须写明知识树中操作技能的技能要求代码"))
        weight = _number(raw.get("weight"), where, "weight", problems, file, i)
        tolerance = _number(raw.get("tolerance"), where, "tolerance", problems, file, i, positive=False)
        step = _number(raw.get("mark_step", 0.5), where, "mark_step", problems, file, i)
        duration = raw.get("duration_min", 10)
        if not isinstance(duration, int) or duration <= 0:
            problems.append(RowProblem(file, i, f"{where}duration_min", f"应为正整数（分钟），实际为 {duration!r}"))
        criteria: list[dict[str, Any]] = []
        raw_criteria = raw.get("criteria")
        if not isinstance(raw_criteria, list) or not raw_criteria:
            problems.append(RowProblem(file, i, f"{where}criteria", "评分要点应为非空列表"))
            raw_criteria = []
        for j, c in enumerate(raw_criteria, start=1):
            cwhere = f"{where}criteria[{j}]."
            if not isinstance(c, dict) or not str(c.get("name") or "").strip():
                problems.append(RowProblem(file, i, f"{cwhere}name", "评分要点须有名称"))
                continue
            points = _number(c.get("points"), cwhere, "points", problems, file, i)
            if step and points and not math.isclose(points / step, round(points / step), abs_tol=1e-9):
                problems.append(RowProblem(file, i, f"{cwhere}points", f"分值 {points:g} 不是评分步长 {step:g} 的整数倍"))
            descriptors = c.get("descriptors", [])
            if not isinstance(descriptors, list) or not all(isinstance(d, str) for d in descriptors):
                problems.append(RowProblem(file, i, f"{cwhere}descriptors", "评分说明应为文字列表"))
                descriptors = []
            criteria.append({"name": str(c["name"]).strip(), "points": points, "descriptors": descriptors})
        max_points = math.fsum(c["points"] for c in criteria)
        if criteria and tolerance > max_points:
            problems.append(RowProblem(file, i, f"{where}tolerance", f"允许差值 {tolerance:g} 超过满分 {max_points:g}"))
        lines.append(SheetLine(i, code, area, {
            "level": level, "title": title, "task": str(raw.get("task") or "").strip(),
            "duration_min": duration, "weight": weight, "tolerance": tolerance, "mark_step": step,
            "criteria": criteria, "max_points": max_points,
        }))
    return lines, problems


def read_stations_file(path: Path | str, name: str | None = None) -> tuple[list[SheetLine], list[RowProblem]]:
    """A stations file (JSON, the format of skills/stations.json) read and checked; nothing stored."""
    path = Path(path)
    file = name or path.name
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [RowProblem(file, None, "文件", f"不是可读的 JSON（{exc.__class__.__name__}）")]
    return check_stations(doc, file)


def current_station(session: Session, code: str) -> Station | None:
    """The newest, not retired version of a station."""
    return session.scalar(select(Station).where(Station.code == code, Station.retired.is_(False))
                          .order_by(Station.version.desc()).limit(1))


def import_stations(session: Session, path: Path | str, actor: str, name: str | None = None) -> StationReport:
    """Store every station of a file, or none (SkillFileError names each bad station and field). Flushes; the
    caller commits."""
    path = Path(path)
    file = name or path.name
    lines, problems = read_stations_file(path, file)
    areas = {
        (a.level, a.code): a for a in session.scalars(
            select(KnowledgeArea).where(KnowledgeArea.part == "skill", KnowledgeArea.merged_into_id.is_(None)))
    }
    for line in lines:
        if line.area and (line.fields["level"], line.area) not in areas:
            problems.append(RowProblem(file, line.index, f"{line.code} area",
                                       f"知识点 {line.area} 不在 {line.fields['level']} 级操作技能的知识树中"
                                       "（请先建立知识树：examctl tree standard）"))
    if problems:
        raise SkillFileError(file, problems, "未导入任何考站")
    report = StationReport(file)
    for line in lines:
        area = areas[(line.fields["level"], line.area)]
        fields = {**line.fields, "area_id": area.id}
        old = current_station(session, line.code)
        if old is None:
            session.add(Station(code=line.code, version=1, **fields))
            report.created.append(line.code)
            continue
        if all(getattr(old, k) == v for k, v in fields.items()):
            report.unchanged.append(line.code)
            continue
        scored = session.scalar(select(SkillMark.id).where(SkillMark.station_id == old.id).limit(1))
        if scored is None:
            for k, v in fields.items():
                setattr(old, k, v)
            report.updated.append(line.code)
        else:
            old.retired = True
            session.add(Station(code=line.code, version=old.version + 1, **fields))
            report.versioned.append(f"{line.code} 第 {old.version + 1} 版")
    session.flush()
    audit(session, actor, "skill.import_stations", "skill_station", file,
          after={"created": report.created, "updated": report.updated, "versioned": report.versioned})
    return report


def ensure_skill_trees(session: Session, actor: str, levels: Sequence[int] = SKILL_LEVELS) -> int:
    """The shipped skill trees (item_bank/data/standard_trees.json) of `levels` that the bank has none of, imported
    through the tree import; returns the areas created. Flushes."""
    have = set(session.scalars(select(KnowledgeArea.level).where(KnowledgeArea.part == "skill").distinct()))
    doc = json.loads(STANDARD_TREES.read_text(encoding="utf-8"))
    trees = [t for t in doc["trees"] if t.get("part") == "skill" and t.get("level") in levels
             and t.get("level") not in have]
    if not trees:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "skill_trees.json"
        path.write_text(json.dumps({**doc, "trees": trees}, ensure_ascii=False), encoding="utf-8")
        return import_tree(session, path, actor=actor, name=STANDARD_TREES.name).created


def ensure_stations(session: Session, actor: str) -> StationReport:
    """The shipped stations (skills/stations.json) with their skill trees, for a centre starting out or the demo."""
    ensure_skill_trees(session, actor)
    return import_stations(session, STATIONS_FILE, actor)

"""The structured blueprint editor: what it shows for a spec, and the spec a posted editor describes.

Percentages on the screen are shares in the spec; validation belongs to `BlueprintSpec`, so a value that is
not a number is passed through for the spec to name the field.
"""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy.orm import Session

from exam_server.assembly.queries import area_rows
from item_bank.attributes import COGNITIVE_LEVEL, COGNITIVE_LEVELS
from item_bank.blueprints import (
    LEVELS,
    PART_LABELS,
    SECTION_TYPES,
    BlueprintSpec,
    SpecProblem,
    weight_table_shares,
)

# The blueprint-language keys the editor's text box holds, in the words of a YAML/JSON blueprint file.
LANGUAGE_KEYS = ("rules", "include", "exclude", "order_by", "objective")

# A new blueprint starts as the usual level-5 theory paper.
DEFAULT_SECTIONS: list[dict[str, Any]] = [
    {
        "type": "judge",
        "count": 20,
        "points": 1.0,
        "scoring_rule": "exact",
        "title": "判断题",
        "shuffle_options": False,
    },
    {"type": "single", "count": 60, "points": 1.0, "scoring_rule": "exact", "title": "单选题"},
    {"type": "multiple", "count": 20, "points": 1.0, "scoring_rule": "all_or_nothing", "title": "多选题"},
]


def new_spec(session: Session, level: int) -> BlueprintSpec:
    """An unnamed theory blueprint of `level` whose area shares are the level's weight table."""
    return BlueprintSpec(
        name="", level=level, part="theory", area_shares=weight_table_shares(session, level, "theory")
    )


def editor_rows(session: Session, spec: BlueprintSpec, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """The editor's tables: the level's areas with their shares, and a row per section type in paper order."""
    rows = area_rows(session, spec.level, spec.part)
    share_of: dict[int, float] = {}
    for r in rows:
        a = r["area"]
        for key in (a.code, a.name):
            if key in spec.area_shares:
                share_of[a.id] = spec.area_shares[key]
    by_type = {s["type"]: s for s in sections}
    section_rows = []
    order = [s["type"] for s in sections] + [t for t in SECTION_TYPES if t not in by_type]
    for i, t in enumerate(order):
        s = by_type.get(t, {"type": t, "count": 0, "points": 1.0, "scoring_rule": "exact", "title": ""})
        section_rows.append({**{"shuffle_items": True, "shuffle_options": t != "judge"}, **s, "order": i + 1})
    grid = spec.grid.cells if spec.grid and spec.grid.attribute == COGNITIVE_LEVEL else {}
    return {
        "area_rows": rows,
        "share_of": share_of,
        "section_rows": section_rows,
        "grid_levels": COGNITIVE_LEVELS,
        "grid_of": grid,
        "grid_tolerance": spec.grid.tolerance if spec.grid else 0,
        "language_text": language_text(spec),
    }


def language_text(spec: BlueprintSpec) -> str:
    """The rules the tables do not show, as the YAML a blueprint file would hold."""
    data = {k: v for k, v in spec.to_dict().items() if k in LANGUAGE_KEYS}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False) if data else ""


def language_problems(form: Any) -> list[SpecProblem]:
    """What is wrong with the text box's YAML itself (its rules are checked with the rest of the spec)."""
    try:
        data = yaml.safe_load(form.get("language") or "") or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        return [SpecProblem("language", f"更多规则 {where} YAML 格式错误: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return [SpecProblem("language", "更多规则应为 rules: / include: / exclude: / order_by: / objective: 键值表")]
    return [
        SpecProblem(f"language.{k}", f"更多规则中只能写 {', '.join(LANGUAGE_KEYS)}（其余请用上面的表格）")
        for k in data
        if k not in LANGUAGE_KEYS
    ]


def _number(form: Any, key: str, scale: float = 1.0) -> float | None:
    raw = (form.get(key) or "").strip()
    if raw == "":
        return None
    try:
        return float(raw) * scale
    except ValueError:
        return raw  # type: ignore[return-value]  # validation names the field


def _words(text: str | None) -> list[str]:
    """A list typed with commas (either width) or spaces."""
    return (text or "").replace("，", ",").replace(",", " ").split()


def _sections(form: Any) -> list[dict[str, Any]]:
    sections = []
    for i in range(len(SECTION_TYPES)):
        t = form.get(f"sec-{i}-type")
        count = _number(form, f"sec-{i}-count")
        if not t or not count:
            continue
        sections.append(
            {
                "type": t,
                "count": count,
                "points": _number(form, f"sec-{i}-points") or 1.0,
                "scoring_rule": form.get(f"sec-{i}-rule") or "exact",
                "title": (form.get(f"sec-{i}-title") or "").strip(),
                "shuffle_items": form.get(f"sec-{i}-shuffle_items") == "on",
                "shuffle_options": form.get(f"sec-{i}-shuffle_options") == "on",
                "_order": _number(form, f"sec-{i}-order") or i,
            }
        )
    sections.sort(key=lambda s: s["_order"] if isinstance(s["_order"], float) else 99)
    for s in sections:
        s.pop("_order")
    return sections


def spec_data_from_form(form: Any) -> dict[str, Any]:
    """The posted editor as a blueprint dict (percentages become shares); validation happens in the spec."""
    shares = {}
    for key in form:
        if key.startswith("area-") and (form.get(key) or "").strip():
            value = _number(form, key, 0.01)
            if value:
                shares[key[5:]] = value
    data: dict[str, Any] = {
        "name": (form.get("name") or "").strip(),
        "level": _number(form, "level"),
        "part": form.get("part") or "theory",
        "duration_min": _number(form, "duration_min"),
        "pass_mark": _number(form, "pass_mark"),
        "description": form.get("description") or "",
        "sections": _sections(form),
        "area_shares": shares,
        "area_tolerance": _number(form, "area_tolerance", 0.01) if form.get("area_tolerance") else 0.03,
        "spread_types": form.get("spread_types") == "on",
        "item_sets_allowed": form.get("item_sets_allowed") == "on",
        "max_item_sets": _number(form, "max_item_sets"),
        "same_stem_enemies": form.get("same_stem_enemies") == "on",
        "enemy_groups": [
            _words(line) for line in (form.get("enemy_groups") or "").splitlines() if line.strip()
        ],
        "max_overlap": _number(form, "max_overlap", 0.01) if form.get("max_overlap") else 0.1,
        "max_forms_per_item": _number(form, "max_forms_per_item"),
        "max_exposure": _number(form, "max_exposure"),
        "exclude_recent_sessions": _number(form, "exclude_recent_sessions") or 0,
    }
    cells: dict[str, dict[str, Any]] = {}
    for key in form:
        if key.startswith("grid-") and (form.get(key) or "").strip():
            code, _, level = key[5:].rpartition("-")
            value = _number(form, key)
            if value:
                cells.setdefault(code, {})[level] = value
    if cells:
        data["grid"] = {
            "attribute": COGNITIVE_LEVEL,
            "measure": "count",
            "tolerance": _number(form, "grid_tolerance") or 0,
            "cells": cells,
        }
    if not language_problems(form):
        extra = yaml.safe_load(form.get("language") or "") or {}
        data.update({k: v for k, v in extra.items() if k in LANGUAGE_KEYS})
    p_min, p_max = _number(form, "p_min"), _number(form, "p_max")
    if p_min is not None or p_max is not None:
        data["difficulty"] = {
            "p_min": 0.0 if p_min is None else p_min,
            "p_max": 1.0 if p_max is None else p_max,
            "parallel_tolerance": _number(form, "p_parallel") if form.get("p_parallel") else 0.01,
        }
    thetas = (form.get("info_thetas") or "").replace("，", ",").strip()
    if thetas:
        data["information"] = {
            "thetas": _words(thetas),
            "targets": _words(form.get("info_targets")),
            "tolerance": _number(form, "info_tolerance", 0.01) if form.get("info_tolerance") else 0.1,
            "parallel_tolerance": _number(form, "info_parallel", 0.01) if form.get("info_parallel") else 0.02,
        }
    return data


def draft_spec(data: dict[str, Any]) -> BlueprintSpec:
    """A best-effort spec to redisplay a rejected form (the posted text is shown from the posted values)."""
    level = data.get("level")
    return BlueprintSpec(
        name=str(data.get("name") or ""),
        level=int(level) if isinstance(level, float) and level in LEVELS else 5,
        part=data.get("part") if data.get("part") in PART_LABELS else "theory",
    )

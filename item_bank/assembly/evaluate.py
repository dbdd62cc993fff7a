"""Measure assembled forms against their blueprint, from the items alone (never from the solver's word).

Used for every assembly report, the form review screen, and the benchmark's side-by-side comparison.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from item_bank.assembly.constraints import overlap_limit, rule_matches
from item_bank.assembly.pool import RESTRICTED_REASONS, ItemRecord
from item_bank.attributes import COGNITIVE_LEVELS
from item_bank.blueprints import ORDER_BY, TYPE_LABELS, BlueprintSpec


def evaluate_form(spec: BlueprintSpec, items: list[ItemRecord]) -> dict[str, Any]:
    """Composition, difficulty, information and the hard-constraint violations of one form."""
    total = spec.total_points
    points_of = {s.type: s.points for s in spec.sections}
    sections = {}
    type_counts = Counter(r.type for r in items)
    for s in spec.sections:
        sections[s.type] = {
            "label": s.label,
            "count": type_counts.get(s.type, 0),
            "need": s.count,
            "points": type_counts.get(s.type, 0) * s.points,
            "need_points": s.total_points,
        }
    area_points: dict[str, float] = defaultdict(float)
    area_type: dict[str, Counter[str]] = defaultdict(Counter)
    for r in items:
        area_points[r.area] += points_of.get(r.type, 0.0)
        area_type[r.area][r.type] += 1
    areas = {}
    for key, share in spec.area_shares.items():
        got = area_points.get(key, 0.0) / total if total else 0.0
        areas[key] = {
            "target": share,
            "share": got,
            "points": area_points.get(key, 0.0),
            "deviation": abs(got - share),
            "by_type": dict(area_type.get(key, {})),
        }
    others = {
        k: {"points": v, "share": v / total if total else 0.0, "by_type": dict(area_type[k])}
        for k, v in area_points.items()
        if k not in spec.area_shares
    }
    ps = [r.p for r in items if r.p is not None]
    mean_p = float(np.mean(ps)) if ps else None
    info = None
    if spec.info_thetas():
        vals = np.zeros(len(spec.info_thetas()))
        for r in items:
            if r.info is not None:
                vals += r.info
        info = [float(v) for v in vals]
    violations: list[str] = []
    for s in spec.sections:
        if type_counts.get(s.type, 0) != s.count:
            violations.append(f"{s.label} 题量 {type_counts.get(s.type, 0)}，应为 {s.count}")
    extra = set(type_counts) - set(points_of)
    for t in sorted(extra):
        violations.append(f"含蓝图之外的题型 {TYPE_LABELS.get(t, t)} {type_counts[t]} 道")
    for key, row in areas.items():
        if row["deviation"] > spec.area_tolerance + 1e-9:
            violations.append(
                f"知识点「{key}」比重 {row['share']:.1%}，应为 {row['target']:.0%} ± {spec.area_tolerance:.0%}"
            )
    d = spec.difficulty
    if d is not None:
        if len(ps) < len(items):
            violations.append(f"{len(items) - len(ps)} 道题缺少难度")
        if mean_p is not None and not d.p_min - 1e-9 <= mean_p <= d.p_max + 1e-9:
            violations.append(f"平均难度 {mean_p:.3f} 不在 [{d.p_min:.2f}, {d.p_max:.2f}]")
    info_dev = None
    if spec.information is not None and info is not None:
        devs = [abs(v - t) / t for v, t in zip(info, spec.information.targets, strict=True)]
        info_dev = max(devs) if devs else 0.0
        for theta, v, t in zip(spec.information.thetas, info, spec.information.targets, strict=True):
            if abs(v - t) > spec.information.tolerance * t + 1e-6:
                violations.append(
                    f"θ={theta:g} 信息量 {v:.2f}，应为 {t:.2f} ± {spec.information.tolerance:.0%}"
                )
    ids = [r.item_id for r in items]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        violations.append(f"{len(dupes)} 道题在同一试卷中出现两次")
    enemy_hits = enemy_conflicts(items)
    for members in enemy_hits.values():
        violations.append(f"互斥题同卷: {', '.join(members)}")
    broken = broken_sets(items)
    for set_id in broken:
        violations.append(f"题组 {set_id} 不完整或被拆散")
    sets_used = len({r.set_id for r in items if r.set_id is not None})
    if spec.max_item_sets is not None and sets_used > spec.max_item_sets:
        violations.append(f"题组 {sets_used} 个，最多 {spec.max_item_sets} 个")
    if not spec.item_sets_allowed and sets_used:
        violations.append("蓝图不允许题组")
    restricted = Counter(r.reason for r in items if r.reason in ("exposure", "recent"))
    for reason, n in restricted.items():
        violations.append(f"使用了 {n} 道{'曝光超限' if reason == 'exposure' else '近期场次用过'}的题")
    unusable = [r for r in items if r.reason is not None and r.reason not in RESTRICTED_REASONS]
    if unusable:
        violations.append(f"{len(unusable)} 道题不符合本蓝图（等级、难度或参数）")
    checks = rule_checks(spec, items)
    violations.extend(f"{c['rule']}：本卷 {c['value']}" for c in checks if not c["ok"])
    return {
        "n_items": len(items),
        "points": sum(points_of.get(r.type, 0.0) for r in items),
        "sections": sections,
        "areas": areas,
        "other_areas": others,
        "max_area_deviation": max((a["deviation"] for a in areas.values()), default=0.0),
        "mean_p": mean_p,
        "information": info,
        "max_information_deviation": info_dev,
        "item_sets": sets_used,
        "enemy_conflicts": enemy_hits,
        "rule_checks": checks,
        "min_information": min(info) if info and spec.maximin else None,
        "violations": violations,
    }


def order_key(spec: BlueprintSpec, records: list[ItemRecord]) -> tuple[Any, ...]:
    """Where a unit goes within its section under the blueprint's `order_by` (the report checks the same)."""
    first = records[0]
    p = float(np.mean([r.p for r in records if r.p is not None])) if any(r.p is not None for r in records) else 0.5
    if spec.order_by == "easy_first":
        return (-p, first.external_id)
    if spec.order_by == "hard_first":
        return (p, first.external_id)
    if spec.order_by == "cognitive_level":
        levels = list(COGNITIVE_LEVELS)
        value = first.attrs.get("cognitive_level")
        return (levels.index(value) if value in levels else len(levels), first.external_id)
    if spec.order_by == "id":
        return (first.external_id,)
    area_rank = {a: i for i, a in enumerate(spec.area_shares)}
    return (area_rank.get(first.area, 999), first.external_id)


def rule_checks(spec: BlueprintSpec, items: list[ItemRecord]) -> list[dict[str, Any]]:
    """Every range rule, exclusion, inclusion and the order rule, checked on the form, in the blueprint's words."""
    points = {s.type: s.points for s in spec.sections}
    out: list[dict[str, Any]] = []
    for rule in spec.all_rules():
        value = sum(
            1.0 if rule.measure == "count" else points.get(r.type, 0.0) for r in items if rule_matches(rule, r)
        )
        lo, hi = rule.bounds()
        unit = "道" if rule.measure == "count" else "分"
        out.append(
            {"rule": rule.words(), "value": f"{value:g} {unit}", "ok": lo - 1e-9 <= value <= hi + 1e-9}
        )
    for ex in spec.exclude:
        hit = [r.external_id for r in items if not r.included and ex.hits(r.stat(ex.field))]
        out.append({"rule": ex.words(), "value": "、".join(hit) or "无", "ok": not hit})
    present = {r.external_id for r in items}
    for ext in spec.include:
        out.append({"rule": f"必选题 {ext}", "value": "在卷中" if ext in present else "不在卷中",
                    "ok": ext in present})
    if spec.order_by != "area":
        ok = order_holds(spec, items)
        out.append({"rule": f"题目顺序：各题型内{ORDER_BY[spec.order_by]}", "value": "符合" if ok else "不符合",
                    "ok": ok})
    return out


def order_holds(spec: BlueprintSpec, items: list[ItemRecord]) -> bool:
    """Within each section, units (an item, or a whole set) follow the blueprint's order rule."""
    units: list[list[ItemRecord]] = []
    for r in items:
        if units and r.set_id is not None and units[-1][0].set_id == r.set_id:
            units[-1].append(r)
        else:
            units.append([r])
    by_type: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for u in units:
        by_type[u[0].type].append(order_key(spec, u))
    return all(keys == sorted(keys) for keys in by_type.values())


def enemy_conflicts(items: list[ItemRecord]) -> dict[str, list[str]]:
    """Enemy groups represented more than once in a form (item sets count once)."""
    members: dict[str, set[str]] = defaultdict(set)
    for r in items:
        unit = f"set{r.set_id}" if r.set_id is not None else r.external_id
        for key in r.enemy_keys:
            members[key].add(unit)
    return {k: sorted(v) for k, v in members.items() if len(v) > 1}


def broken_sets(items: list[ItemRecord]) -> list[int]:
    """Item sets whose children are not contiguous and in set order (or whose order is wrong)."""
    positions: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pos, r in enumerate(items):
        if r.set_id is not None:
            positions[r.set_id].append((pos, r.set_position))
    bad = []
    for set_id, pairs in positions.items():
        pos = [p for p, _ in pairs]
        order = [sp for _, sp in sorted(pairs)]
        if pos != list(range(min(pos), min(pos) + len(pos))) or order != sorted(order):
            bad.append(set_id)
    return bad


def evaluate_forms(spec: BlueprintSpec, forms: list[list[ItemRecord]]) -> dict[str, Any]:
    """Each form's evaluation plus what only parallel forms have: overlap and spreads."""
    per_form = [evaluate_form(spec, items) for items in forms]
    n = len(forms)
    sets_ = [{r.item_id for r in items} for items in forms]
    overlap = [[len(sets_[i] & sets_[j]) for j in range(n)] for i in range(n)]
    off = [overlap[i][j] for i in range(n) for j in range(n) if i != j]
    max_overlap = max(off, default=0)
    violations = [list(f["violations"]) for f in per_form]
    limit = overlap_limit(spec)
    if n > 1 and max_overlap > limit:
        for i in range(n):
            for j in range(i + 1, n):
                if overlap[i][j] > limit:
                    violations[i].append(f"与第 {j + 1} 份重复 {overlap[i][j]} 道，最多 {limit} 道")
    if spec.max_forms_per_item is not None:
        uses = Counter(i for s in sets_ for i in s)
        over = [i for i, k in uses.items() if k > spec.max_forms_per_item]
        if over:
            violations[0].append(f"{len(over)} 道题用于超过 {spec.max_forms_per_item} 份试卷")
    means = [f["mean_p"] for f in per_form if f["mean_p"] is not None]
    info_spread = None
    mins = [f["min_information"] for f in per_form if f["min_information"] is not None]
    if spec.information is not None and per_form and per_form[0]["information"] is not None:
        arr = np.array([f["information"] for f in per_form])
        info_spread = float(np.max((arr.max(axis=0) - arr.min(axis=0)) / np.array(spec.information.targets)))
    return {
        "forms": per_form,
        "overlap": overlap,
        "max_overlap": max_overlap,
        "overlap_limit": limit,
        "mean_p_spread": (max(means) - min(means)) if len(means) > 1 else 0.0 if means else None,
        "information_spread": info_spread,
        "max_area_deviation": max((f["max_area_deviation"] for f in per_form), default=0.0),
        "max_information_deviation": max(
            (f["max_information_deviation"] for f in per_form if f["max_information_deviation"] is not None),
            default=None,
        ),
        "min_information": min(mins) if mins else None,
        "violations": violations,
        "n_violations": sum(len(v) for v in violations),
    }

"""Infeasibility in words: counting checks before solving, and the elastic model's slacks after.

Every message is in the blueprint's terms: level, part, section type, knowledge area, how much is needed
and how much the bank can give ("5级 理论知识 · 知识点「消防安全」: 每份试卷至少需要 9 分 ..."), never a
solver status.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from item_bank.assembly.constraints import Build, build, overlap_limit, rule_matches
from item_bank.assembly.mip import SolveResult
from item_bank.assembly.pool import OTHER_AREA, REASON_LABELS, Pool, Unit
from item_bank.blueprints import TYPE_LABELS, BlueprintSpec


@dataclass
class Shortfall:
    """One blueprint requirement the bank cannot meet: what, how much is needed, how much is possible."""

    kind: str
    subject: str
    needed: float
    available: float
    unit: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _head(spec: BlueprintSpec) -> str:
    return f"{spec.level}级 {spec.part_label()}"


def _fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-6 else f"{x:.2f}"


def _excluded_note(pool: Pool, type_: str | None = None, area: str | None = None) -> str:
    reasons = Counter(
        r.reason
        for r in pool.records
        if r.reason is not None and (type_ is None or r.type == type_) and (area is None or r.area == area)
    )
    if not reasons:
        return ""
    parts = [f"{REASON_LABELS.get(k, k)} {n} 道" for k, n in reasons.most_common()]
    return "（另有已审核题目不可用：" + "，".join(parts) + "）"


def precheck(pool: Pool, spec: BlueprintSpec, n_forms: int) -> list[Shortfall]:
    """Necessary conditions by counting (per form); each failure is certain, found without a solver."""
    out: list[Shortfall] = []
    head = _head(spec)
    if pool.unknown_areas:
        names = "、".join(f"「{k}」" for k in pool.unknown_areas)
        out.append(
            Shortfall(
                "area",
                ",".join(pool.unknown_areas),
                sum(spec.area_shares[k] for k in pool.unknown_areas),
                0,
                "",
                f"{head} · 知识点 {names} 在{spec.level}级知识树中不存在（请检查知识点代码或名称）",
            )
        )
    out.extend(_across_forms(pool, spec, n_forms))
    usable = [u for u in pool.units if u.reason is None]
    supply: dict[str, int] = Counter()
    supply_area: dict[tuple[str, str], int] = Counter()
    for u in usable:
        for r in u.records:
            supply[r.type] += 1
            supply_area[(r.area, r.type)] += 1
    for sec in spec.sections:
        have = supply[sec.type]
        if have < sec.count:
            out.append(
                Shortfall(
                    "section",
                    sec.type,
                    sec.count,
                    have,
                    "道",
                    f"{head} · {sec.label}: 每份试卷需要 {sec.count} 道已审核通过的{TYPE_LABELS.get(sec.type, sec.type)}，"
                    f"题库中可用的只有 {have} 道{_excluded_note(pool, sec.type)}",
                )
            )
        elif n_forms > 1 and spec.max_forms_per_item is not None and not _disjoint(spec, n_forms):
            uses = spec.max_forms_per_item
            if have * uses < n_forms * sec.count:
                out.append(
                    Shortfall(
                        "forms_per_item",
                        sec.type,
                        n_forms * sec.count,
                        have * uses,
                        "道次",
                        f"{head} · {sec.label}: {n_forms} 份试卷共需 {n_forms * sec.count} 道次，"
                        f"每题最多用于 {uses} 份，题库 {have} 道最多提供 {have * uses} 道次",
                    )
                )
    total = spec.total_points
    for key, share in spec.area_shares.items():
        if key in pool.unknown_areas:
            continue
        lo = max(0.0, (share - spec.area_tolerance) * total)
        hi = (share + spec.area_tolerance) * total
        most = sum(min(sec.count, supply_area[(key, sec.type)]) * sec.points for sec in spec.sections)
        if most + 1e-9 < lo:
            detail = "，".join(
                f"{TYPE_LABELS.get(s.type, s.type)} {supply_area[(key, s.type)]} 道" for s in spec.sections
            )
            out.append(
                Shortfall(
                    "area",
                    key,
                    lo,
                    most,
                    "分",
                    f"{head} · 知识点「{pool.area_names.get(key, key)}」: 每份试卷至少需要 {_fmt(lo)} 分"
                    f"（比重 {share:.0%} − 容差 {spec.area_tolerance:.0%}，共 {_fmt(total)} 分），"
                    f"题库中该知识点可用的已审核题目最多只能提供 {_fmt(most)} 分（{detail}）{_excluded_note(pool, area=key)}",
                )
            )
        least = sum(
            max(0, sec.count - sum(v for (a, t), v in supply_area.items() if t == sec.type and a != key))
            * sec.points
            for sec in spec.sections
        )
        if least - 1e-9 > hi:
            out.append(
                Shortfall(
                    "area",
                    key,
                    hi,
                    least,
                    "分",
                    f"{head} · 知识点「{pool.area_names.get(key, key)}」: 每份试卷最多 {_fmt(hi)} 分"
                    f"（比重 {share:.0%} + 容差 {spec.area_tolerance:.0%}），但其他知识点的题目不够，"
                    f"该知识点至少要占 {_fmt(least)} 分",
                )
            )
    return out


def _disjoint(spec: BlueprintSpec, n_forms: int) -> bool:
    """Parallel forms that may share no item at all."""
    return n_forms > 1 and (overlap_limit(spec) == 0 or spec.max_forms_per_item == 1)


def _ids(records: list[Any], limit: int = 8) -> str:
    ids = [r.external_id for r in records]
    if not ids:
        return ""
    more = f" 等 {len(ids)} 道" if len(ids) > limit else ""
    return "（" + "、".join(ids[:limit]) + more + "）"


def _across_forms(pool: Pool, spec: BlueprintSpec, n_forms: int) -> list[Shortfall]:
    """Supply arithmetic per rule over all forms: what disjoint forms need against what the bank has."""
    out: list[Shortfall] = []
    head = _head(spec)
    usable = [r for u in pool.units if u.reason is None for r in u.records]
    disjoint = _disjoint(spec, n_forms)
    k = n_forms if disjoint else 1
    together = f"{n_forms} 份试卷不能共用题目，共" if disjoint else "每份试卷"
    if disjoint:
        for sec in spec.sections:
            have = sum(1 for r in usable if r.type == sec.type)
            if have < k * sec.count and have >= sec.count:
                out.append(
                    Shortfall(
                        "section", sec.type, k * sec.count, have, "道",
                        f"{head} · {sec.label}: {together}需 {k * sec.count} 道{TYPE_LABELS.get(sec.type, sec.type)}"
                        f"（每份 {sec.count} 道），题库中可用的只有 {have} 道{_excluded_note(pool, sec.type)}",
                    )
                )
    points = {s.type: s.points for s in spec.sections}
    for rule in spec.all_rules():
        lo, _hi = rule.bounds()
        if lo <= 0 or (rule.area and rule.area in pool.unknown_areas):
            continue
        matching = [r for r in usable if rule_matches(rule, r)]
        have = sum(1.0 if rule.measure == "count" else points.get(r.type, 0.0) for r in matching)
        if have + 1e-9 < k * lo:
            unit = "道" if rule.measure == "count" else "分"
            out.append(
                Shortfall(
                    "rule", rule.words(), k * lo, have, unit,
                    f"{head} · {rule.words()}：{together}至少需要 {_fmt(k * lo)} {unit}，"
                    f"题库中符合的只有 {_fmt(have)} {unit}{_ids(matching)}",
                )
            )
    by_ext = {r.external_id: r for r in pool.records}
    for ext in spec.include:
        rec = by_ext.get(ext)
        if rec is None:
            out.append(Shortfall("include", ext, 1, 0, "道", f"{head} · 必选题 {ext} 不在本蓝图的候选题中"
                                 "（题号不存在、未审核通过或不是本科目与题型）"))
        elif rec.reason is not None:
            out.append(Shortfall("include", ext, 1, 0, "道",
                                 f"{head} · 必选题 {ext} 不能使用：{REASON_LABELS.get(rec.reason, rec.reason)}"))
        elif disjoint:
            out.append(Shortfall("include", ext, n_forms, 1, "道",
                                 f"{head} · 必选题 {ext} 每份试卷都要用，而 {n_forms} 份试卷不能共用题目"))
    return out


# --------------------------------------------------------------------------------------------------
# Conflicts: the smallest set of the blueprint's rules that cannot hold together (a deletion filter)


@dataclass
class Conflict:
    """The rules that cannot hold together, in words, and what the bank reaches at unreachable θ."""

    groups: list[tuple[str, str]]
    lines: list[str]
    reach: list[str]
    checks: int
    seconds: float


def find_conflict(
    spec: BlueprintSpec,
    pool: Pool,
    units: list[Unit],
    n_forms: int,
    tier: str,
    time_limit_s: float,
    seed: int = 0,
) -> Conflict | None:
    """A deletion filter over the blueprint's rules (HiGHS's own IIS covers LPs only).

    Each rule (a section, an area share, a range rule, an exclusion rule, the reuse limit …) is dropped in
    turn; if the rest is still infeasible the rule is not needed for the conflict and stays dropped.
    What remains is irreducible: without any one of its rules, the others hold together. Chunks of rules
    are tried first, so a large blueprint needs few solves. None if the time ran out before the first proof.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    b = build(spec, pool, units, n_forms, tier, elastic=False, feasibility=True)
    groups: list[tuple[str, str]] = []
    for row in b.model.rows:
        if row.need is not None and row.need.group not in groups:
            groups.append(row.need.group)
    groups += [g for g in b.model.block_groups if g is not None and g not in groups]
    checks = 0

    def infeasible(drop: set[tuple[str, str]], budget: float, relax: bool = False) -> bool:
        nonlocal checks
        left = deadline - time.perf_counter()
        if left <= 0.05:
            return False  # unknown counts as "needed": the set stays a conflict, maybe not the smallest
        checks += 1
        res = b.model.solve(min(left, max(0.2, budget)), seed=seed, drop=drop, zero_cost=True, relax=relax)
        return res.status == "infeasible"

    def budget(n_left: int) -> float:
        return (deadline - time.perf_counter()) / max(n_left, 1)

    removed: set[tuple[str, str]] = set()
    if infeasible(set(), 1.0, relax=True):
        # The LP relaxation is already infeasible (most counting conflicts): filter on LPs, each a few
        # milliseconds; the rules left are infeasible together even with integrality, so they are a conflict.
        for g in groups:
            if infeasible(removed | {g}, 1.0, relax=True):
                removed.add(g)
        # Integrality may make even fewer rules clash: drop each remaining rule once more, on the MIP.
        kept = [g for g in groups if g not in removed]
        for n, g in enumerate(kept):
            if infeasible(removed | {g}, budget(len(kept) - n)):
                removed.add(g)
    else:
        if not infeasible(set(), budget(2)):
            return None
        for size in (8, 1):
            kept = [g for g in groups if g not in removed]
            chunks = [kept[i : i + size] for i in range(0, len(kept), size)]
            for n, chunk in enumerate(chunks):
                if size > 1 and len(chunk) == len(kept):
                    continue
                if infeasible(removed | set(chunk), budget(len(chunks) - n + (len(kept) if size > 1 else 0))):
                    removed |= set(chunk)
    conflict = [g for g in groups if g not in removed]
    lines = [rule_words(b, g) for g in conflict]
    reach = _reach(spec, pool, units, n_forms, tier, conflict, deadline, seed)
    return Conflict(conflict, lines, reach, checks, time.perf_counter() - t0)


def rule_words(b: Build, group: tuple[str, str]) -> str:
    """One rule of a conflict in the bank manager's words, with the supply and the items involved."""
    spec, kind, key = b.spec, group[0], group[1]
    usable = [r for u in b.units if u.reason is None for r in u.records]
    if kind == "section":
        sec = spec.section_for_type(key)
        assert sec is not None
        have = sum(1 for r in usable if r.type == key)
        return f"{sec.label}每份 {sec.count} 道（题库可用 {have} 道{TYPE_LABELS.get(key, key)}）"
    if kind == "area":
        share = spec.area_shares.get(key, 0.0)
        have = [r for r in usable if r.area == key]
        return (
            f"知识点「{b.pool.area_names.get(key, key)}」比重 {share:.0%} ± {spec.area_tolerance:.0%}"
            f"（题库中该知识点可用 {len(have)} 道{_ids(have, 4)}）"
        )
    if kind == "rule":
        rule = spec.all_rules()[int(key)]
        matching = [r for r in usable if rule_matches(rule, r)]
        lo, _hi = rule.bounds()
        few = len(matching) <= max(lo * b.n_forms, 8)
        return f"{rule.words()}（题库中符合的{'只' if few else ''}有 {len(matching)} 道{_ids(matching) if few else ''}）"
    if kind == "exclude":
        rule = spec.exclude[int(key)]
        hit = [r for u in b.units if u.reason == "excluded" for r in u.records if r.excluded_by == int(key)]
        return f"{rule.words()}（排除了 {len(hit)} 道{_ids(hit, 4)}）"
    if kind == "include":
        return f"必选题 {key} 每份试卷都要用"
    if kind == "reuse":
        return f"{b.n_forms} 份试卷不能共用题目"
    if kind == "overlap":
        return f"平行卷两两最多重复 {overlap_limit(spec)} 道（{spec.max_overlap:.0%}）"
    if kind == "forms_per_item":
        return f"每道题最多用于 {spec.max_forms_per_item} 份试卷"
    if kind == "enemy":
        return "互斥题（互斥组与同题干变体）每份试卷只能用 1 道"
    if kind == "difficulty" and spec.difficulty is not None:
        return f"平均难度 p 在 [{spec.difficulty.p_min:.2f}, {spec.difficulty.p_max:.2f}] 之间"
    if kind == "information" and spec.information is not None:
        info = spec.information
        target = next(t for th, t in zip(info.thetas, info.targets, strict=True) if f"{th:g}" == key)
        return f"θ={key} 处测验信息量 {target:g} ± {info.tolerance:.0%}"
    if kind == "item_sets":
        return f"每份试卷最多 {spec.max_item_sets} 个题组"
    if kind == "exposure":
        return f"曝光次数达到 {spec.max_exposure} 次的题目不用"
    if kind == "recent":
        return f"最近 {spec.exclude_recent_sessions} 个场次用过的题目不用"
    return f"{kind} {key}"


def _reach(
    spec: BlueprintSpec,
    pool: Pool,
    units: list[Unit],
    n_forms: int,
    tier: str,
    conflict: list[tuple[str, str]],
    deadline: float,
    seed: int,
) -> list[str]:
    """For each unreachable information target: the most every form can have at that θ alone, others kept."""
    info = spec.information
    thetas = [key for kind, key in conflict if kind == "information"]
    if info is None or not thetas:
        return []
    out = []
    for key in thetas:
        k = next(i for i, th in enumerate(info.thetas) if f"{th:g}" == key)
        # Every rule but the information targets; the θ's information is maximised on its own.
        alone = dataclasses.replace(spec, information=None, objective=None)
        left = deadline - time.perf_counter()
        if left < 0.2:
            break
        res = _solve_alone(alone, pool, units, n_forms, tier, k, left, seed)
        target = info.targets[k]
        if res is None:
            continue
        best, bound, proven = res
        how = "" if proven else f"（未证明最优，上界 {bound:.2f}）"
        out.append(
            f"θ={key}：目标 {target:g} ± {info.tolerance:.0%}，在其他要求同时满足时每份试卷最多能做到 "
            f"{best:.2f}{how}（单独对该 θ 求解）"
        )
    return out


def _solve_alone(
    spec: BlueprintSpec, pool: Pool, units: list[Unit], n_forms: int, tier: str, k: int, left: float, seed: int
) -> tuple[float, float, bool] | None:
    """Maximise the information every form reaches at the k-th target θ, with every other rule kept."""
    info_k = np.array([sum(float(r.info[k]) for r in u.records if r.info is not None) for u in units])
    b = build(spec, pool, units, n_forms, tier, elastic=False, feasibility=True)
    y = int(b.model.add_vars(1, 0, np.inf, cost=-1.0)[0])
    for f in range(n_forms):
        b.model.add_row(np.append(b.x[f], y), np.append(info_k, -1.0), lo=0.0)
    res = b.model.solve(min(left, 5.0), seed=seed, rel_gap=1e-3)
    if not res.has_solution or res.objective is None:
        return None
    bound = -res.dual_bound if res.dual_bound is not None else -res.objective
    return -res.objective, bound, res.status == "optimal"


def describe(b: Build, result: SolveResult) -> list[Shortfall]:
    """Turn the elastic solution's slacks into shortfalls, one per requirement (worst form)."""
    head = _head(b.spec)
    worst: dict[tuple[str, str, str], tuple[float, float, str]] = {}
    hits: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row_no, (below, above) in result.slacks.items():
        row = b.model.rows[row_no]
        need = row.need
        assert need is not None
        side = "lo" if below >= above else "hi"
        amount = max(below, above)
        bound = row.lo if side == "lo" else row.hi
        # Pairs of forms are one requirement (the overlap limit); forms of one requirement likewise.
        pooled = need.kind in ("overlap", "forms_per_item")
        key = "*" if pooled else need.key
        detail = need.key if pooled else str(need.form)
        k = (need.kind, key, side)
        if k not in worst or amount > worst[k][0]:
            worst[k] = (amount, bound, detail)
        hits[k].add(detail)
    out: list[Shortfall] = []
    F = b.n_forms
    for (kind, key, side), (amount, bound, detail) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
        hit = len(hits[(kind, key, side)] - {"None"})
        if kind == "overlap":
            scope = f"（共 {hit} 对试卷超出）" if hit > 1 else ""
            key = detail
        elif kind == "forms_per_item":
            scope = f"（共 {hit} 道题）" if hit > 1 else ""
            key = detail
        else:
            scope = f"（{F} 份平行卷中有 {hit} 份做不到）" if F > 1 and hit else ""
        reach = bound - amount if side == "lo" else bound + amount
        out.append(
            Shortfall(
                kind, key, bound, reach, "", _sentence(b, kind, key, side, bound, amount, reach, head) + scope
            )
        )
    return out


def _sentence(
    b: Build, kind: str, key: str, side: str, bound: float, amount: float, reach: float, head: str
) -> str:
    spec, pool = b.spec, b.pool
    if kind == "section":
        sec = spec.section_for_type(key)
        label = sec.label if sec else key
        return (
            f"{head} · {label}: 每份试卷需要 {_fmt(bound)} 道{TYPE_LABELS.get(key, key)}，"
            f"在其他要求同时满足时最多只能放入 {_fmt(reach)} 道（差 {_fmt(amount)} 道）{_excluded_note(pool, key)}"
        )
    if kind == "area":
        share = spec.area_shares.get(key, 0.0)
        name = pool.area_names.get(key, key)
        if side == "lo":
            return (
                f"{head} · 知识点「{name}」: 每份试卷至少需要 {_fmt(bound)} 分（比重 {share:.0%} − 容差 "
                f"{spec.area_tolerance:.0%}），题库在满足其他要求时只能提供 {_fmt(reach)} 分（差 {_fmt(amount)} 分）"
                f"{_excluded_note(pool, area=key)}"
            )
        return (
            f"{head} · 知识点「{name}」: 每份试卷最多 {_fmt(bound)} 分（比重 {share:.0%} + 容差 "
            f"{spec.area_tolerance:.0%}），但其他知识点题目不足，至少要占 {_fmt(reach)} 分（超出 {_fmt(amount)} 分）"
        )
    if kind == "difficulty":
        n = spec.item_count
        d = spec.difficulty
        assert d is not None
        if side == "lo":
            tail = f"最高只能做到 {reach / n:.3f}（比下限低 {amount / n:.3f}）"
        else:
            tail = f"最低只能做到 {reach / n:.3f}（比上限高 {amount / n:.3f}）"
        return (
            f"{head} · 平均难度 p 需在 [{d.p_min:.2f}, {d.p_max:.2f}] 之间，在满足其他要求时可用题目{tail}"
            f"{_excluded_note(pool)}"
        )
    if kind == "information":
        info = spec.information
        assert info is not None
        target = next(t for th, t in zip(info.thetas, info.targets, strict=True) if f"{th:g}" == key)
        word = "不足" if side == "lo" else "超出"
        return (
            f"{head} · 能力 θ={key} 处的测验信息量需在 {target:.2f} ± {info.tolerance:.0%} 之内，"
            f"题库在满足其他要求时只能做到 {reach:.2f}（{word} {amount:.2f}）{_excluded_note(pool)}"
        )
    if kind == "enemy":
        if key.startswith("g:"):
            group = f"互斥组 {key[2:]}"
        elif key.startswith("b:"):
            group = f"蓝图互斥组第 {int(key[2:]) + 1} 组"
        else:
            group = "同题干变体"
        return (
            f"{head} · {group} 的题目每份试卷只能用 1 道，但满足其他要求需要同时用 {_fmt(amount + 1)} 道"
            "（其他可用题目不够）"
        )
    if kind == "item_sets":
        return f"{head} · 每份试卷最多 {_fmt(bound)} 个题组，满足其他要求需要 {_fmt(reach)} 个"
    if kind == "overlap":
        f, g = (int(x) + 1 for x in key.split("-"))
        return (
            f"{head} · 平行卷两两重复不超过 {_fmt(bound)} 道（{spec.max_overlap:.0%}）：{b.n_forms} 份试卷共需 "
            f"{b.n_forms * spec.item_count} 道次，可用题目只有 {_fmt(float(b.sizes.sum()))} 道，"
            f"第 {f} 与第 {g} 份至少要重复 {_fmt(reach)} 道"
        )
    if kind == "forms_per_item":
        return f"{head} · 每道题最多用于 {_fmt(bound)} 份试卷，题库不够，需要某些题用于 {_fmt(reach)} 份"
    if kind in ("exposure", "recent"):
        what = "曝光次数已达上限" if kind == "exposure" else f"最近 {spec.exclude_recent_sessions} 个场次用过"
        return f"{head} · 需要动用 {_fmt(amount)} 道{what}的题目才能组成试卷"
    if kind in ("rule", "exclude", "include"):
        return f"{head} · {rule_words(b, (kind, key))}：在满足其他要求时只能做到 {_fmt(reach)}（差 {_fmt(amount)}）"
    return f"{head} · {kind} {key}: 需要 {_fmt(bound)}，只能达到 {_fmt(reach)}"


def supply_table(pool: Pool, spec: BlueprintSpec) -> dict[str, dict[str, int]]:
    """Usable items per area × type (for reports and messages)."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: Counter())
    for u in pool.units:
        if u.reason is None:
            for r in u.records:
                table[r.area if r.area != OTHER_AREA else OTHER_AREA][r.type] += 1
    return {a: dict(c) for a, c in table.items()}

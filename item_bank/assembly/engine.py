"""`assemble_forms`: build N parallel forms from a blueprint with one HiGHS MIP, store them, report.

The flow: load the pool → counting checks (certain shortages, no solver) → solve (for parallel forms,
first with disjoint forms, which is small and fast, then, only if that is infeasible, with the exact
pairwise overlap limit) → if no form exists, solve the elastic model and say what is short → store
forms with status "assembled" and a report measured on the forms themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import secrets
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from item_bank.assembly.constraints import (
    TIER_DISJOINT,
    TIER_FREE,
    TIER_PAIRWISE,
    TIER_SINGLE,
    Build,
    build,
    overlap_limit,
)
from item_bank.assembly.evaluate import evaluate_forms, order_key
from item_bank.assembly.explain import Conflict, Shortfall, describe, find_conflict, precheck
from item_bank.assembly.mip import SolveResult
from item_bank.assembly.pool import RESTRICTED_REASONS, ItemRecord, Pool, Unit, item_information, load_pool
from item_bank.audit import AuditEvent
from item_bank.blueprints import BlueprintSpec, InformationSpec, spec_of
from item_bank.db import utcnow
from item_bank.kernel.actors import system_actor
from item_bank.kernel.errors import DomainError
from item_bank.models import ASSEMBLED, Blueprint, Form, FormItem, ItemVersion
from item_bank.types import item_type

try:
    HIGHSPY_VERSION = importlib.metadata.version("highspy")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - highspy is a dependency
    HIGHSPY_VERSION = "?"
PART_CODES = {"theory": "T", "skill": "S", "written": "W", "thesis": "H", "defence": "D"}
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_GAP = 0.01
# A maximin model's bound is its LP bound almost at once; the search is for good forms, so HiGHS spends more
# of its effort on primal heuristics (measured on benchmarks/assembly.py --hard, seeds 3, 7, 11: never slower,
# 30 s instead of 60 s on one).
MAXIMIN_OPTIONS: dict[str, Any] = {"mip_heuristic_effort": 0.3}
# Time the conflict search (which rules cannot hold together) may take after an infeasible solve.
CONFLICT_TIME_S = 8.0
# Share of the time limit the one-form-at-a-time warm start may use.
HEURISTIC_SHARE = 0.5
# An objective this small is zero: every target met within its dead band.
PERFECT = 1e-7
# Who assembled, when a caller does not say.
DEFAULT_ACTOR = system_actor("assembly")


class AssemblyError(DomainError):
    """Assembly could not produce forms; the message says why in the blueprint's terms."""

    default_code = "assembly_failed"
    default_status = 422


class AssemblyInfeasible(AssemblyError):
    """No form can meet the blueprint; `shortfalls` name each requirement that cannot hold and by how much."""

    default_code = "assembly_infeasible"

    def __init__(
        self,
        blueprint_name: str,
        shortfalls: list[Shortfall],
        n_forms: int = 1,
        conflict: Conflict | None = None,
    ) -> None:
        what = f" {n_forms} 份平行卷" if n_forms > 1 else "试卷"
        if conflict is not None:
            lines = "\n".join(f"- {line}" for line in conflict.lines)
            head = (
                f"蓝图「{blueprint_name}」无法组成{what}：下面 {len(conflict.lines)} 条要求不能同时满足"
                "（去掉其中任何一条，其余的都能满足）："
                if len(conflict.lines) > 1
                else f"蓝图「{blueprint_name}」无法组成{what}：这一条要求本身就无法满足："
            )
            tail = "".join(f"\n  {line}" for line in conflict.reach)
            message = f"{head}\n{lines}{tail}"
        else:
            lines = "\n".join(f"- {s.message}" for s in shortfalls) or "- 约束之间互相矛盾（未能定位到具体约束）"
            message = f"蓝图「{blueprint_name}」无法组成{what}：\n{lines}"
        super().__init__(message, blueprint=blueprint_name)
        self.blueprint_name = blueprint_name
        self.shortfalls = shortfalls
        self.n_forms = n_forms
        self.conflict = conflict


class IdenticalForm(AssemblyError):
    """A new form would have exactly the items of a stored one: nothing
    is stored unless the caller asks to keep identical forms anyway."""

    default_code = "identical_form"
    default_status = 409


class AssemblyTimeout(AssemblyError):
    """The time limit ran out before any form meeting the blueprint was found (nor proven impossible)."""

    default_code = "assembly_timeout"


@dataclass
class AssemblyResult:
    """The stored forms of one assembly run and its report (solver, gap, timings, measured figures)."""

    forms: list[Form]
    group: str
    report: dict[str, Any]
    items: list[list[ItemRecord]] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        return self.report["solver"]["gap"]

    @property
    def seconds(self) -> float:
        return self.report["seconds"]["total"]


@dataclass
class Solution:
    """Units chosen per form, with the solve that chose them."""

    forms: list[list[Unit]]
    result: SolveResult
    tier: str
    model_stats: dict[str, Any]
    build_s: float
    heuristic: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SolverSettings:
    """How long the solver may search, the optimality gap it may stop at, and the seed that makes a run repeatable."""

    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    seed: int = 0
    gap: float = DEFAULT_GAP


def solve_blueprint(
    spec: BlueprintSpec,
    pool: Pool,
    n_forms: int = 1,
    *,
    settings: SolverSettings | None = None,
    name: str | None = None,
) -> Solution:
    """Choose items for `n_forms` forms; raises AssemblyInfeasible / AssemblyTimeout. No database writes."""
    settings = settings or SolverSettings()
    time_limit_s, seed, gap = settings.time_limit_s, settings.seed, settings.gap
    name = name or spec.name
    shortfalls = precheck(pool, spec, n_forms)
    if shortfalls:
        raise AssemblyInfeasible(name, shortfalls, n_forms)
    deadline = time.perf_counter() + time_limit_s
    usable = [u for u in pool.units if u.reason is None]
    # Order units deterministically, shuffled by the seed so equal items are not always picked the same way.
    rng = np.random.default_rng(seed)
    usable = [usable[i] for i in rng.permutation(len(usable))]
    tiers = _tiers(spec, n_forms, usable)
    start: list[list[Unit]] | None = None
    fallback: Solution | None = None
    heuristic: dict[str, Any] = {}
    if n_forms > 1 and not spec.maximin:
        # A warm start: the same model one form at a time (each small and quick), against the same targets.
        # Not for maximin: one form at a time, the first takes the most informative items and the last is
        # left the poorest, a start HiGHS's own heuristics beat on the whole model.
        t0 = time.perf_counter()
        seq = _sequential(spec, pool, usable, n_forms, deadline, time_limit_s * HEURISTIC_SHARE, seed, gap)
        heuristic = {"seconds": round(time.perf_counter() - t0, 3), "found": seq is not None}
        if seq is not None:
            start, disjoint, objectives = seq
            heuristic["disjoint"] = disjoint
            heuristic["objective"] = max((o or 0.0) for o in objectives)
            if TIER_PAIRWISE in tiers:
                tiers = [TIER_DISJOINT, TIER_PAIRWISE] if disjoint else [TIER_PAIRWISE]
    for tier in tiers:
        remaining = deadline - time.perf_counter()
        if remaining <= 0.5:
            break
        t0 = time.perf_counter()
        b = build(spec, pool, usable, n_forms, tier, elastic=False)
        start_cols = _start_columns(b, start) if start is not None else None
        build_s = time.perf_counter() - t0
        result = b.model.solve(
            max(remaining - build_s, 0.5),
            seed=seed,
            rel_gap=gap,
            start=start_cols,
            options=MAXIMIN_OPTIONS if spec.maximin else None,
        )
        if result.has_solution:
            found = Solution(_chosen(b, result.x), result, tier, b.model.stats(), build_s, heuristic)
            more = tiers[tiers.index(tier) + 1 :]
            if more and (result.objective or 0.0) > PERFECT and deadline - time.perf_counter() > 2.0:
                # Disjoint forms fall short of a target: sharing items (within the limit) may reach it.
                start, fallback = found.forms, found
                continue
            return found
        if fallback is not None:
            return fallback
        if result.status == "time_limit_no_solution":
            raise AssemblyTimeout(
                f"蓝图「{name}」: 在 {time_limit_s:.0f} 秒内没有找到满足全部要求的{_what(n_forms)}，也未能证明无解；"
                "请延长时间限制，或放宽比重容差、难度区间、重复比例等要求后再试"
            )
        if result.status not in ("infeasible",):
            raise AssemblyError(f"蓝图「{name}」: 求解器出错（{result.solver_status}），请联系管理员")
    if fallback is not None:
        return fallback
    # Nothing feasible: name the smallest set of the blueprint's rules that cannot hold together; if that
    # search runs out of time, the elastic model on the exact formulation says what is short.
    units = [u for u in pool.units if u.reason is None or u.reason in RESTRICTED_REASONS]
    conflict = find_conflict(
        spec, pool, units, n_forms, _tiers(spec, n_forms, units)[-1], CONFLICT_TIME_S, seed
    )
    if conflict is not None:
        raise AssemblyInfeasible(name, [], n_forms, conflict)
    shortfalls = explain_infeasible(spec, pool, n_forms, max(deadline - time.perf_counter(), 5.0), seed)
    raise AssemblyInfeasible(name, shortfalls, n_forms)


def _sequential(
    spec: BlueprintSpec,
    pool: Pool,
    usable: list[Unit],
    n_forms: int,
    deadline: float,
    budget_s: float,
    seed: int,
    gap: float,
) -> tuple[list[list[Unit]], bool, list[float | None]] | None:
    """Forms one at a time: disjoint from the earlier ones if the bank allows, else within the overlap limit.

    Returns the forms, whether they are disjoint and each form's objective, or None if some form could
    not be built in time.
    """
    anchor = None
    if spec.difficulty is not None:
        anchor = (spec.difficulty.p_min + spec.difficulty.p_max) / 2
    limit = overlap_limit(spec)
    budget_end = time.perf_counter() + budget_s
    rng = np.random.default_rng(seed + 1)
    forms: list[list[Unit]] = []
    uses: Counter[str] = Counter()
    disjoint = True
    objectives: list[float | None] = []
    for f in range(n_forms):
        best: tuple[list[Unit], float, str] | None = None
        for mode in ("disjoint", "overlap"):
            if mode == "overlap" and (limit == 0 or spec.max_forms_per_item == 1):
                break
            if mode == "disjoint":
                units = [u for u in usable if uses[u.key] == 0]
                previous: list[set[str]] = []
            else:
                cap = spec.max_forms_per_item
                units = [u for u in usable if cap is None or uses[u.key] < cap]
                previous = [{u.key for u in form} for form in forms]
            remaining = deadline - time.perf_counter()
            if remaining <= 0.5:
                return None
            sample = _sample(units, spec, rng)
            b = build(spec, pool, sample, 1, TIER_SINGLE, elastic=False, previous=previous, p_anchor=anchor)
            # Time a quick form leaves unused goes to the forms after it; a slow one may borrow some.
            per_form = max(1.0, 2 * (budget_end - time.perf_counter()) / (n_forms - f))
            result = b.model.solve(min(per_form, remaining), seed=seed + f, rel_gap=gap)
            if len(sample) < len(units) and (not result.has_solution or (result.objective or 0.0) > PERFECT):
                # The sample was too thin for a perfect form: the whole pool, with what time is left.
                b = build(
                    spec, pool, units, 1, TIER_SINGLE, elastic=False, previous=previous, p_anchor=anchor
                )
                per_form = max(1.0, 2 * (budget_end - time.perf_counter()) / (n_forms - f))
                retry = b.model.solve(
                    min(per_form, deadline - time.perf_counter()), seed=seed + f, rel_gap=gap
                )
                if retry.has_solution and (
                    not result.has_solution or (retry.objective or 0.0) < (result.objective or 0.0)
                ):
                    result = retry
                else:
                    b = build(
                        spec, pool, sample, 1, TIER_SINGLE, elastic=False, previous=previous, p_anchor=anchor
                    )
            if result.has_solution:
                objective = result.objective or 0.0
                if best is None or objective < best[1] - 1e-9:
                    best = (_chosen(b, result.x)[0], objective, mode)
                # Share items with earlier forms only when a disjoint form is proven imperfect.
                if objective <= PERFECT or result.status != "optimal":
                    break
        if best is None:
            return None
        chosen, objective, mode = best
        disjoint = disjoint and mode == "disjoint"
        objectives.append(objective)
        forms.append(chosen)
        uses.update(u.key for u in chosen)
    return forms, disjoint, objectives


SAMPLE_KEEP_STRATUM = 60


def _sample(units: list[Unit], spec: BlueprintSpec, rng: np.random.Generator) -> list[Unit]:
    """A random share of a large pool for one form (small strata kept whole): a smaller, faster MIP."""
    share = min(1.0, max(0.3, 10 * spec.item_count / max(len(units), 1)))
    if share >= 1.0:
        return units
    strata = Counter((u.type, u.records[0].area) for u in units)
    keep = rng.random(len(units)) < share
    return [
        u
        for u, k in zip(units, keep, strict=True)
        if k or strata[(u.type, u.records[0].area)] < SAMPLE_KEEP_STRATUM
    ]


def _start_columns(b: Build, forms: list[list[Unit]]) -> dict[int, float]:
    """The x columns of a warm start (1 for chosen units, 0 for the rest)."""
    index = {u.key: j for j, u in enumerate(b.units)}
    start = {int(c): 0.0 for c in b.x.ravel()}
    for f, units in enumerate(forms):
        for u in units:
            start[int(b.x[f, index[u.key]])] = 1.0
    return start


def explain_infeasible(
    spec: BlueprintSpec, pool: Pool, n_forms: int, time_limit_s: float, seed: int = 0
) -> list[Shortfall]:
    """Shortfalls from the elastic model (restricted items included at a price)."""
    units = [u for u in pool.units if u.reason is None or u.reason in RESTRICTED_REASONS]
    tier = _tiers(spec, n_forms, units)[-1]
    b = build(spec, pool, units, n_forms, tier, elastic=True)
    result = b.model.solve(time_limit_s, seed=seed, rel_gap=1e-3)
    if not result.has_solution:
        return []
    return describe(b, result)


def _what(n_forms: int) -> str:
    return f" {n_forms} 份平行卷" if n_forms > 1 else "试卷"


def _tiers(spec: BlueprintSpec, n_forms: int, units: list[Unit]) -> list[str]:
    if n_forms == 1:
        return [TIER_SINGLE]
    limit = overlap_limit(spec)
    if spec.max_forms_per_item == 1 or limit == 0:
        return [TIER_DISJOINT]
    if limit >= spec.item_count and spec.max_forms_per_item is None:
        return [TIER_FREE]
    # Disjoint forms meet any overlap limit; try them first unless the bank is plainly too small.
    supply: dict[str, int] = defaultdict(int)
    for u in units:
        supply[u.type] += u.size
    if all(supply[s.type] >= n_forms * s.count for s in spec.sections):
        return [TIER_DISJOINT, TIER_PAIRWISE]
    return [TIER_PAIRWISE]


def _chosen(b: Build, x: np.ndarray | None) -> list[list[Unit]]:
    assert x is not None
    values = x[b.x]
    return [[b.units[j] for j in np.flatnonzero(values[f] > 0.5)] for f in range(b.n_forms)]


def order_form(spec: BlueprintSpec, units: list[Unit]) -> list[ItemRecord]:
    """A form's items in stored order: sections in blueprint order, then by the blueprint's order rule
    (area, easy first, hard first, cognitive level or item number); sets whole."""
    sec_rank = {s.type: i for i, s in enumerate(spec.sections)}
    return [r for u in sorted(units, key=lambda u: (sec_rank.get(u.type, 99), *order_key(spec, u.records)))
            for r in u.records]


def assemble_forms(
    session: Session,
    blueprint: Blueprint,
    n_forms: int = 1,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int | None = None,
    gap: float = DEFAULT_GAP,
    actor: str = DEFAULT_ACTOR,
    allow_identical: bool = False,
) -> AssemblyResult:
    """Assemble and store `n_forms` parallel forms (status "assembled"); flushes, the caller commits.

    Raises AssemblyInfeasible (message names what is short), AssemblyTimeout, IdenticalForm (unless
    `allow_identical`) or BlueprintError. Nothing is written when it raises.
    """
    planned = plan_assembly(session, blueprint, n_forms, time_limit_s=time_limit_s, seed=seed, gap=gap)
    return store_assembly(session, blueprint, planned, actor, allow_identical=allow_identical)


@dataclass
class PlannedAssembly:
    """The forms an assembly run chose, not yet stored: what `plan_assembly` read and solved."""

    spec: BlueprintSpec
    group: str
    now: dt.datetime
    report: dict[str, Any]
    forms_items: list[list[ItemRecord]]
    form_measures: list[dict[str, Any]]


def plan_assembly(
    session: Session,
    blueprint: Blueprint,
    n_forms: int = 1,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int | None = None,
    gap: float = DEFAULT_GAP,
) -> PlannedAssembly:
    """Read the pool and solve, writing nothing: a background job ends its read before it takes the write
    lock to store the forms (`store_assembly`), so a long solve never holds up others' writes."""
    if n_forms < 1:
        raise AssemblyError("平行卷份数至少为 1")
    if seed is None:
        # A fresh seed per run (printed and stored, so a run can be repeated): the same blueprint
        # assembled again gives another paper, not the identical one.
        seed = fresh_seed()
    t0 = time.perf_counter()
    spec = resolve_reference(session, spec_of(blueprint))
    pool = load_pool(session, spec)
    load_s = time.perf_counter() - t0
    sol = solve_blueprint(
        spec, pool, n_forms, settings=SolverSettings(time_limit_s, seed, gap), name=blueprint.name
    )
    forms_items = [order_form(spec, units) for units in sol.forms]
    measured = evaluate_forms(spec, forms_items)
    warnings = identical_forms(session, blueprint, forms_items)
    now = utcnow()
    group = f"G{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    total_s = time.perf_counter() - t0
    res = sol.result
    report: dict[str, Any] = {
        "group": group,
        "blueprint": {"id": blueprint.id, "name": blueprint.name, "spec": spec.to_dict()},
        "n_forms": n_forms,
        "seed": seed,
        "time_limit_s": time_limit_s,
        "solver": {
            "name": f"HiGHS (highspy {HIGHSPY_VERSION})",
            "status": res.status,
            "solver_status": res.solver_status,
            "objective": res.objective,
            "dual_bound": res.dual_bound,
            "gap": res.gap,
            "gap_limit": gap,
            **objective_figures(spec, res),
            "nodes": res.nodes,
            "tier": sol.tier,
            "warm_start": sol.heuristic,
            "model": sol.model_stats,
        },
        "seconds": {
            "load": round(load_s, 3),
            "build": round(sol.build_s, 3),
            "solve": round(res.seconds, 3),
            "total": round(total_s, 3),
        },
        "pool": {
            "usable_items": sum(u.size for u in pool.units if u.reason is None),
            "candidate_items": len(pool.records),
        },
        "measured": {k: v for k, v in measured.items() if k != "forms"},
        "warnings": warnings,
    }
    return PlannedAssembly(spec, group, now, report, forms_items, list(measured["forms"]))


def fresh_seed() -> int:
    return secrets.randbelow(2**31 - 1)


def objective_figures(spec: BlueprintSpec, res: SolveResult) -> dict[str, Any]:
    """The objective, its bound and the gap in the objective's own units.

    Maximin: the information level every form reaches and the most any forms could reach (information
    units). Targets: the largest deviation from a target, where 1 means "at the blueprint's tolerance".
    """
    if res.objective is None:
        return {}
    if spec.maximin:
        value = -res.objective
        bound = -res.dual_bound if res.dual_bound is not None else None
        unit = "信息量"
    else:
        value, bound, unit = res.objective, res.dual_bound, "容差倍数"
    gap_units = None if bound is None else abs(bound - value)
    return {
        "objective_kind": spec.objective.kind if spec.objective else "targets",
        "objective_value": value,
        "objective_bound": bound,
        "objective_unit": unit,
        "gap_units": gap_units,
    }


def resolve_reference(session: Session, spec: BlueprintSpec) -> BlueprintSpec:
    """A "match the reference form" objective becomes information targets: that form's curve at the θ points."""
    obj = spec.objective
    if obj is None or obj.kind != "reference":
        return spec
    ref = session.scalar(select(Form).where(Form.code == obj.reference_form))
    if ref is None:
        raise AssemblyError(f"蓝图「{spec.name}」的参考卷 {obj.reference_form} 不存在")
    thetas = np.array(obj.thetas, dtype=float)
    curve = np.zeros(len(thetas))
    missing = 0
    for fi in ref.items:
        v = session.get(ItemVersion, fi.item_version_id)
        if v is None or v.irt_a is None or v.irt_b is None:
            missing += 1
            continue
        curve += item_information((float(v.irt_a), float(v.irt_b), float(v.irt_c or 0.0)), thetas)
    if missing:
        raise AssemblyError(f"参考卷 {obj.reference_form} 有 {missing} 道题缺少 IRT 参数，算不出信息曲线")
    info = InformationSpec(
        thetas=list(obj.thetas), targets=[round(float(c), 4) for c in curve], tolerance=obj.tolerance
    )
    return dataclasses.replace(spec, information=info)


def identical_forms(session: Session, blueprint: Blueprint, forms_items: list[list[ItemRecord]]) -> list[str]:
    """Warnings for new forms with exactly the items of a stored form (or of another new form)."""
    stored, batch = _identical(session, blueprint, forms_items)
    return stored + batch


def _identical(
    session: Session, blueprint: Blueprint, forms_items: list[list[ItemRecord]]
) -> tuple[list[str], list[str]]:
    """(new forms identical to a stored form, new forms identical to an earlier form of the same run)."""
    existing: dict[int, set[int]] = defaultdict(set)
    rows = session.execute(
        select(Form.id, ItemVersion.item_id)
        .join(FormItem, FormItem.form_id == Form.id)
        .join(ItemVersion, ItemVersion.id == FormItem.item_version_id)
        .where(Form.blueprint_id == blueprint.id)
    ).all()
    for form_id, item_id in rows:
        existing[form_id].add(item_id)
    codes = dict(session.execute(select(Form.id, Form.code).where(Form.id.in_(list(existing)))).all())
    seen: dict[frozenset[int], str] = {frozenset(v): codes[k] for k, v in existing.items()}
    stored: list[str] = []
    batch: list[str] = []
    in_run: dict[frozenset[int], int] = {}
    for k, items in enumerate(forms_items, start=1):
        ids = frozenset(r.item_id for r in items)
        if ids in seen:
            stored.append(f"第 {k} 份试卷与已有试卷 {seen[ids]} 的题目完全相同")
        elif ids in in_run:
            batch.append(f"第 {k} 份试卷与本批第 {in_run[ids]} 份的题目完全相同")
        else:
            in_run[ids] = k
    return stored, batch


ROWS_PER_INSERT = 4000


def store_assembly(
    session: Session, blueprint: Blueprint, planned: PlannedAssembly, actor: str, *, allow_identical: bool = False
) -> AssemblyResult:
    """Store the planned forms (status "assembled") with an audit row each; the caller commits.

    A form identical to a stored one is refused before anything is written
    (IdenticalForm, naming the stored form) unless `allow_identical`; then the report keeps the warning.

    A job calls this holding SQLite's write lock, which candidates' saves wait for: the rows are built first and
    written in three multi-row INSERTs (forms, their items, the audit rows) rather than an ORM flush of a
    thousand objects, which held the lock ~150 ms idle and over a second beside busy worker threads (issue 13).
    """
    spec, group, now, report, forms_items = (
        planned.spec, planned.group, planned.now, planned.report, planned.forms_items
    )
    # Checked again here, inside the caller's write: a form stored while this run was solving counts too.
    # Forms of one run alike are the blueprint's overlap rule's business (it may allow them): a warning only.
    stored, batch = _identical(session, blueprint, forms_items)
    identical = stored + batch
    if stored and not allow_identical:
        raise IdenticalForm(
            "；".join(stored)
            + f"。没有保存任何试卷。如确需保留相同的试卷，请勾选“仍然保存与已有试卷相同的试卷”"
            f"（examctl assemble --allow-identical）并用种子 {report['seed']} 重新组卷；"
            "否则留空种子重新组卷即可得到另一份试卷。",
            identical=stored,
            seed=report["seed"],
        )
    report = {**report, "warnings": identical}
    stamp = f"{now:%y%m%d%H%M%S}"
    prefix = f"L{spec.level}{PART_CODES.get(spec.part, 'X')}-{stamp}"
    if session.scalar(select(Form.id).where(Form.code.like(f"{prefix}-%"))) is not None:
        prefix += secrets.token_hex(2)
    sections = {s.type: s for s in spec.sections}
    form_rows = [
        {
            "code": f"{prefix}-{k + 1:02d}",
            "blueprint_id": blueprint.id,
            "status": ASSEMBLED,
            "assembly_group": group,
            "assembly_report": {**report, "form_index": k, "form": planned.form_measures[k]},
            "created_at": now,
        }
        for k in range(len(forms_items))
    ]
    form_ids = list(session.scalars(insert(Form).returning(Form.id, sort_by_parameter_order=True), form_rows))
    item_rows = [
        {
            "form_id": form_id,
            "item_version_id": rec.version_id,
            "position": pos,
            "section": sections[rec.type].label,
            "points": sections[rec.type].points,
            "scoring_rule": item_type(rec.type).form_rule(sections[rec.type].scoring_rule),
        }
        for form_id, items in zip(form_ids, forms_items, strict=True)
        for pos, rec in enumerate(items, start=1)
    ]
    for start in range(0, len(item_rows), ROWS_PER_INSERT):  # one statement per 4,000 rows (SQLite's 32,766 binds)
        session.execute(insert(FormItem).values(item_rows[start : start + ROWS_PER_INSERT]))
    session.execute(
        insert(AuditEvent).values([
            {
                "at": utcnow(), "actor": actor, "action": "form.assemble", "entity": "form", "entity_id": str(form_id),
                "before": None, "reason": "",
                "after": {"code": row["code"], "group": group, "items": len(items), "gap": report["solver"]["gap"]},
            }
            for form_id, row, items in zip(form_ids, form_rows, forms_items, strict=True)
        ])
    )
    forms = list(session.scalars(select(Form).where(Form.id.in_(form_ids)).order_by(Form.id)))
    return AssemblyResult(forms, group, report, forms_items)

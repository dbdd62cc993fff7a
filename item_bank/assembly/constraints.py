"""The assembly model: decision variables x[f, u] (form f takes unit u) and one builder per constraint kind.

To add a constraint kind, write `def build_xxx(b: Build) -> None` that adds rows to `b.model` (labelled
with a `Need` if the blueprint asks for it, so infeasibility can be explained), optionally soft deviation
columns through `b.soft(...)`, and append it to `BUILDERS`. `explain.describe` turns its Need into words.

Objective (non-elastic): minimise t + λ·Σ d, where every soft deviation d (an area's distance from its
share, a form's information distance from its target, the spread of mean difficulty across forms) is
normalised so that 1 means "as far as the blueprint tolerates", and t ≥ every d is the largest of them.
Dead bands (rounding of area points, the parallel tolerances) make a perfect paper score exactly 0, so a
rich bank stops at a proven optimum instead of chasing noise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from item_bank.assembly.mip import INF, MipModel, Need
from item_bank.assembly.pool import R_EXCLUDED, RESTRICTED_REASONS, ItemRecord, Pool, Unit
from item_bank.blueprints import BlueprintSpec, RuleSpec

# Weight of the summed deviations against the largest one.
LAMBDA = 0.05
# A spread of mean p across forms this far beyond the parallel tolerance weighs like an area at its limit.
P_SPREAD_SCALE = 0.05
TIER_SINGLE, TIER_FREE, TIER_DISJOINT, TIER_PAIRWISE = "single", "free", "disjoint", "pairwise"


@dataclass
class Build:
    """Everything a constraint builder needs: the spec, the units, the variable grid and the model."""

    spec: BlueprintSpec
    pool: Pool
    units: list[Unit]
    n_forms: int
    tier: str
    model: MipModel
    x: np.ndarray = field(init=False)  # (F, U) column indices
    t: int | None = field(init=False, default=None)
    soft_cols: list[int] = field(default_factory=list)
    # Sequential (one form at a time) building: forms already fixed, as unit keys, and a mean-p anchor
    # standing in for the spread between forms.
    previous: list[set[str]] = field(default_factory=list)
    p_anchor: float | None = None
    # Only feasibility matters (the conflict search): no objective, no soft targets.
    feasibility: bool = False
    y: int | None = field(init=False, default=None)  # maximin: the information level every form reaches
    # Per-unit contributions.
    counts: np.ndarray = field(init=False)  # (S, U) items of each section
    area_pts: np.ndarray = field(init=False)  # (A, U) points in each blueprint area
    p_sum: np.ndarray = field(init=False)  # (U,) sum of p over the unit's items
    info: np.ndarray = field(init=False)  # (K, U) information at each theta
    sizes: np.ndarray = field(init=False)  # (U,) items in the unit

    def __post_init__(self) -> None:
        spec, units = self.spec, self.units
        n_units = len(units)
        sec_index = {s.type: i for i, s in enumerate(spec.sections)}
        areas = list(spec.area_shares)
        area_index = {a: i for i, a in enumerate(areas)}
        n_theta = len(spec.info_thetas())
        self.counts = np.zeros((len(spec.sections), n_units))
        self.area_pts = np.zeros((len(areas), n_units))
        self.p_sum = np.zeros(n_units)
        self.info = np.zeros((n_theta, n_units))
        self.sizes = np.array([u.size for u in units], dtype=float)
        for j, unit in enumerate(units):
            for rec in unit.records:
                s = sec_index[rec.type]
                self.counts[s, j] += 1
                if rec.area in area_index:
                    self.area_pts[area_index[rec.area], j] += spec.sections[s].points
                self.p_sum[j] += rec.p or 0.0
                if n_theta and rec.info is not None:
                    self.info[:, j] += rec.info
        self.x = self.model.add_vars(self.n_forms * n_units, 0, 1, integer=True, name="x").reshape(
            self.n_forms, n_units
        )
        if not self.model.elastic and not self.feasibility:
            if spec.maximin:
                # Maximise y (HiGHS minimises −y): the objective and its gap are in information units.
                self.y = int(self.model.add_vars(1, 0, INF, cost=-1.0, name="y")[0])
            else:
                self.t = int(self.model.add_vars(1, 0, INF, cost=1.0, name="t")[0])

    @property
    def elastic(self) -> bool:
        """No soft targets in this model (elastic, feasibility-only, or a maximin objective)."""
        return self.model.elastic or self.feasibility or self.y is not None

    def soft(self, idx: np.ndarray, val: np.ndarray, lo: float, hi: float, norm: float) -> None:
        """A soft target lo <= Σ val·x <= hi, deviation normalised by `norm`, counted in t (not in elastic)."""
        if self.elastic:
            return
        d = int(self.model.add_vars(1, 0, INF)[0])
        norm = max(norm, 1e-9)
        if hi < INF:
            self.model.add_row(np.append(idx, d), np.append(val, -norm), hi=hi)
        if lo > -INF:
            self.model.add_row(np.append(idx, d), np.append(val, norm), lo=lo)
        assert self.t is not None
        self.model.add_row([d, self.t], [1.0, -1.0], hi=0.0)
        self.soft_cols.append(d)

    def finish(self) -> None:
        if self.soft_cols:
            self.model.set_cost(np.array(self.soft_cols), LAMBDA / len(self.soft_cols))


def build_section_counts(b: Build) -> None:
    """Each form has exactly the section's number of items of its type (so exactly its points)."""
    for s, sec in enumerate(b.spec.sections):
        cols = b.counts[s] > 0
        for f in range(b.n_forms):
            b.model.add_row(
                b.x[f, cols],
                b.counts[s, cols],
                sec.count,
                sec.count,
                Need("section", sec.type, f, "道", 3.0),
            )


def build_area_shares(b: Build) -> None:
    """Each area's points within share ± tolerance (hard), as close to the share as possible (soft)."""
    spec = b.spec
    total = spec.total_points
    half_step = min(s.points for s in spec.sections) / 2
    for a, (key, share) in enumerate(spec.area_shares.items()):
        cols = np.flatnonzero(b.area_pts[a] > 0)
        target = share * total
        lo = max(0.0, (share - spec.area_tolerance) * total)
        hi = (share + spec.area_tolerance) * total
        for f in range(b.n_forms):
            idx, val = b.x[f, cols], b.area_pts[a, cols]
            b.model.add_row(idx, val, lo - 1e-7, hi + 1e-7, Need("area", key, f, "分", 1.0))
            b.soft(
                idx, val, target - half_step, target + half_step, max(spec.area_tolerance * total, half_step)
            )


def build_type_spread(b: Build) -> None:
    """Each section's items spread over the areas like the paper's points (soft, with a dead band).

    Without it a form may meet every area share while, say, all true/false items come from one area;
    the two-way table (双向细目表) reads area × type, so each cell stays near share × section count.
    """
    spec = b.spec
    if not spec.spread_types or b.elastic:
        return
    cells: dict[tuple[str, str], np.ndarray] = {}
    for j, unit in enumerate(b.units):
        for r in unit.records:
            if r.area in spec.area_shares:
                cell = cells.setdefault((r.type, r.area), np.zeros(len(b.units)))
                cell[j] += 1
    for sec in spec.sections:
        for key, share in spec.area_shares.items():
            counts = cells.get((sec.type, key))
            if counts is None:
                continue  # no such items at all: nothing to spread
            expected = share * sec.count
            band = max(1.0, expected / 2)
            cols = np.flatnonzero(counts)
            for f in range(b.n_forms):
                b.soft(b.x[f, cols], counts[cols], expected - band, expected + band, band)


def build_difficulty(b: Build) -> None:
    """Mean p of each form inside the band (hard); parallel forms' mean p close together (soft)."""
    d = b.spec.difficulty
    if d is None:
        return
    n = b.spec.item_count
    cols = np.arange(len(b.units))
    for f in range(b.n_forms):
        b.model.add_row(
            b.x[f, cols],
            b.p_sum,
            d.p_min * n - 1e-7,
            d.p_max * n + 1e-7,
            Need("difficulty", "mean_p", f, "", 1.0),
        )
    if b.p_anchor is not None and not b.elastic:
        half = d.parallel_tolerance / 2
        for f in range(b.n_forms):
            b.soft(b.x[f], b.p_sum, (b.p_anchor - half) * n, (b.p_anchor + half) * n, P_SPREAD_SCALE * n)
    elif b.n_forms > 1 and not b.elastic:
        m_lo, m_hi = b.model.add_vars(2, 0.0, 1.0)
        for f in range(b.n_forms):
            b.model.add_row(np.append(b.x[f], m_lo), np.append(b.p_sum, -n), lo=0.0)
            b.model.add_row(np.append(b.x[f], m_hi), np.append(b.p_sum, -n), hi=0.0)
        b.soft(np.array([m_hi, m_lo]), np.array([1.0, -1.0]), -INF, d.parallel_tolerance, P_SPREAD_SCALE)


def build_information(b: Build) -> None:
    """Test information at each theta within target ± tolerance (hard), near the target (soft)."""
    info = b.spec.information
    if info is None:
        return
    for k, (theta, target) in enumerate(zip(info.thetas, info.targets, strict=True)):
        lo, hi = target * (1 - info.tolerance), target * (1 + info.tolerance)
        for f in range(b.n_forms):
            b.model.add_row(
                b.x[f],
                b.info[k],
                lo,
                hi,
                Need("information", f"{theta:g}", f, "", 1.0 / (info.tolerance * target)),
            )
            b.soft(
                b.x[f],
                b.info[k],
                target * (1 - info.parallel_tolerance),
                target * (1 + info.parallel_tolerance),
                info.tolerance * target,
            )


def build_maximin(b: Build) -> None:
    """Maximin information: every form's information at θ_k is at least weight_k · y, and y is maximised."""
    if b.y is None:
        return
    obj = b.spec.objective
    assert obj is not None
    weights = obj.weights or [1.0] * len(obj.thetas)
    for k, w in enumerate(weights):
        for f in range(b.n_forms):
            b.model.add_row(np.append(b.x[f], b.y), np.append(b.info[k], -w), lo=0.0)


def rule_matrix(rule: RuleSpec, spec: BlueprintSpec, units: list[Unit]) -> np.ndarray:
    """Per unit, how much it adds to a rule (matching items, or their points)."""
    points = {s.type: s.points for s in spec.sections}
    out = np.zeros(len(units))
    for j, unit in enumerate(units):
        for r in unit.records:
            if rule_matches(rule, r):
                out[j] += 1.0 if rule.measure == "count" else points.get(r.type, 0.0)
    return out


def rule_matches(rule: RuleSpec, rec: ItemRecord) -> bool:
    """Whether an item falls in a rule's scope (its area or any ancestor, its type, its attribute values)."""
    if rule.area is not None and rule.area not in rec.areas:
        return False
    if rule.type is not None and rec.type != rule.type:
        return False
    for name, want in rule.attributes.items():
        got = rec.attrs.get(name)
        if got is None:
            return False
        if isinstance(got, float) and not isinstance(want, str):
            if abs(got - float(want)) > 1e-9:
                return False
        elif str(got) != str(want):
            return False
    return True


def build_rules(b: Build) -> None:
    """Each range rule (and grid cell) holds on every form: lo − tolerance ≤ matching items/points ≤ hi + tol."""
    for i, rule in enumerate(b.spec.all_rules()):
        contrib = rule_matrix(rule, b.spec, b.units)
        cols = np.flatnonzero(contrib)
        lo, hi = rule.bounds()
        for f in range(b.n_forms):
            b.model.add_row(
                b.x[f, cols],
                contrib[cols],
                lo - 1e-7,
                hi + 1e-7,
                Need("rule", str(i), f, "道" if rule.measure == "count" else "分", 1.0),
            )


def build_include(b: Build) -> None:
    """Items the blueprint names are on every form."""
    for j, unit in enumerate(b.units):
        named = [r.external_id for r in unit.records if r.included]
        if named:
            for f in range(b.n_forms):
                b.model.add_row([b.x[f, j]], [1.0], lo=1.0, need=Need("include", named[0], f, "道", 1.0))


def build_item_sets(b: Build) -> None:
    """At most `max_item_sets` item sets per form (a set is one variable, so it always travels whole)."""
    limit = b.spec.max_item_sets
    if limit is None:
        return
    cols = np.array([j for j, u in enumerate(b.units) if u.is_set], dtype=int)
    if not len(cols):
        return
    for f in range(b.n_forms):
        b.model.add_row(b.x[f, cols], 1.0, hi=limit, need=Need("item_sets", "max", f, "组", 1.0))


def build_enemies(b: Build) -> None:
    """At most one unit of each enemy group (bank groups, stem variants, blueprint groups) per form."""
    groups: dict[str, list[int]] = defaultdict(list)
    for j, unit in enumerate(b.units):
        keys: set[str] = set()
        for rec in unit.records:
            keys |= rec.enemy_keys
        for key in keys:
            groups[key].append(j)
    b.pool.enemy_groups = []
    for key, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        b.pool.enemy_groups.append(members)
        for f in range(b.n_forms):
            b.model.add_row(b.x[f, members], 1.0, hi=1.0, need=Need("enemy", key, f, "道", 1.0))


def build_restricted(b: Build) -> None:
    """Units excluded by exposure or recent use: absent from a normal model, priced in an elastic one."""
    by_reason: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j, unit in enumerate(b.units):
        if unit.reason == R_EXCLUDED:
            # One rule per exclusion rule, so a conflict can name the very rule that keeps items out.
            rule = next(r.excluded_by for r in unit.records if r.excluded_by is not None)
            by_reason[("exclude", str(rule))].append(j)
        elif unit.reason in RESTRICTED_REASONS:
            by_reason[(unit.reason, unit.reason)].append(j)
    for (kind, key), cols in by_reason.items():
        for f in range(b.n_forms):
            b.model.add_row(b.x[f, cols], b.sizes[cols], hi=0.0, need=Need(kind, key, f, "道", 0.5))


def build_reuse(b: Build) -> None:
    """How parallel forms may share items: disjoint, a pairwise overlap limit, and uses per item."""
    spec, F = b.spec, b.n_forms
    if b.previous:
        limit = overlap_limit(spec)
        for g, keys in enumerate(b.previous):
            cols = [j for j, u in enumerate(b.units) if u.key in keys]
            if cols:
                for f in range(F):
                    b.model.add_row(
                        b.x[f, cols],
                        b.sizes[cols],
                        hi=limit,
                        need=Need("overlap", f"{g}-{len(b.previous) + f}", None, "道", 1.0),
                    )
    if F < 2:
        return
    n_units = len(b.units)
    if spec.max_forms_per_item is not None and b.tier != TIER_DISJOINT:
        for j in range(n_units):
            b.model.add_row(
                b.x[:, j],
                1.0,
                hi=spec.max_forms_per_item,
                need=Need("forms_per_item", str(j), None, "份", 1.0),
            )
    if b.tier == TIER_DISJOINT:
        b.model.add_rows(b.x.T, 1.0, hi=1.0, group=("reuse", "disjoint"))
    elif b.tier == TIER_PAIRWISE:
        limit = overlap_limit(spec)
        for f in range(F):
            for g in range(f + 1, F):
                # y[j] >= x[f, j] + x[g, j] - 1: item j is on both forms.
                y = b.model.add_vars(n_units, 0.0, 1.0)
                b.model.add_rows(
                    np.stack([b.x[f], b.x[g], y], axis=1),
                    np.array([1.0, 1.0, -1.0]),
                    hi=1.0,
                    group=("overlap", "*"),
                )
                b.model.add_row(y, b.sizes, hi=limit, need=Need("overlap", f"{f}-{g}", None, "道", 1.0))


def overlap_limit(spec: BlueprintSpec) -> int:
    """Items two parallel forms may share at most."""
    return math.floor(spec.max_overlap * spec.item_count + 1e-9)


Builder = Callable[[Build], None]
BUILDERS: list[Builder] = [
    build_section_counts,
    build_area_shares,
    build_type_spread,
    build_difficulty,
    build_information,
    build_maximin,
    build_rules,
    build_include,
    build_item_sets,
    build_enemies,
    build_restricted,
    build_reuse,
]


def build(
    spec: BlueprintSpec,
    pool: Pool,
    units: list[Unit],
    n_forms: int,
    tier: str,
    elastic: bool,
    previous: list[set[str]] | None = None,
    p_anchor: float | None = None,
    feasibility: bool = False,
) -> Build:
    """The whole model for `n_forms` forms over `units` (after `previous` fixed forms, if any)."""
    b = Build(
        spec,
        pool,
        units,
        n_forms,
        tier,
        MipModel(elastic=elastic),
        previous=previous or [],
        p_anchor=p_anchor,
        feasibility=feasibility,
    )
    for builder in BUILDERS:
        builder(b)
    b.finish()
    return b

"""A small mixed-integer model builder over HiGHS (highspy), with labelled, optionally elastic rows.

Constraint builders add variables and rows; a row carries a `Need` label when it stands for something
the blueprint asks. In elastic mode every labelled row gets non-negative slack variables priced in the
objective, so the solution says which needs cannot be met and by how much.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import highspy

# highspy and scipy are imported when a model is solved, not with this module: the exam server's
# paper-assembly screens import it, and a restarted exam server must listen again within seconds.

INF = math.inf
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A HiGHS instance; the first one of the process prints a banner on fd 1, which we swallow."""
    global _banner_shown
    import highspy

    if _banner_shown:
        return highspy.Highs()
    _banner_shown = True
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (embedded); let it print
        return highspy.Highs()
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@dataclass(frozen=True)
class Need:
    """What a labelled row asks for, in the blueprint's own terms.

    `kind` groups rows of one constraint family; `key` identifies the thing (an area, a section);
    `form` is the form index (None for rows across forms); `unit` names what the row counts
    ("道", "分"); `weight` prices one unit of slack in the elastic model.
    """

    kind: str
    key: str
    form: int | None = None
    unit: str = "道"
    weight: float = 1.0

    @property
    def group(self) -> tuple[str, str]:
        """The blueprint rule this row belongs to (all forms, pairs and enemy groups of one rule together)."""
        if self.kind in ("overlap", "forms_per_item", "enemy"):
            return (self.kind, "*")
        return (self.kind, self.key)


@dataclass
class Row:
    idx: np.ndarray
    val: np.ndarray
    lo: float
    hi: float
    need: Need | None


@dataclass
class SolveResult:
    status: str  # optimal | feasible | infeasible | time_limit_no_solution | error
    solver_status: str
    objective: float | None
    dual_bound: float | None
    gap: float | None
    seconds: float
    nodes: int
    x: np.ndarray | None
    slacks: dict[int, tuple[float, float]] = field(default_factory=dict)  # row -> (below lo, above hi)

    @property
    def has_solution(self) -> bool:
        return self.x is not None


class MipModel:
    """Columns and rows collected in numpy-friendly lists, solved once by HiGHS."""

    def __init__(self, elastic: bool = False) -> None:
        self.elastic = elastic
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.n_cols = 0
        self.rows: list[Row] = []
        # Unlabelled rows added in bulk: (idx (k, w), val (k, w), lo (k,), hi (k,)), placed after `rows`.
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.block_groups: list[tuple[str, str] | None] = []
        self._slack_cols: dict[int, tuple[int | None, int | None]] = {}
        self.names: dict[str, np.ndarray] = {}
        self._cost_override: dict[int, float] = {}

    # ----- columns -----
    def add_vars(
        self,
        n: int,
        lb: float = 0.0,
        ub: float = 1.0,
        integer: bool = False,
        cost: float | np.ndarray = 0.0,
        name: str | None = None,
    ) -> np.ndarray:
        """Add `n` columns; returns their indices."""
        idx = np.arange(self.n_cols, self.n_cols + n)
        self._lb.append(np.full(n, lb, dtype=float))
        self._ub.append(np.full(n, ub, dtype=float))
        self._cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).copy())
        self._int.append(np.full(n, integer, dtype=bool))
        self.n_cols += n
        if name:
            self.names[name] = idx
        return idx

    def set_cost(self, idx: np.ndarray | int, cost: float) -> None:
        """Change the objective coefficient of existing columns."""
        for i in np.atleast_1d(idx):
            self._cost_override[int(i)] = cost

    # ----- rows -----
    def add_row(
        self,
        idx: np.ndarray | list[int],
        val: np.ndarray | list[float] | float,
        lo: float = -INF,
        hi: float = INF,
        need: Need | None = None,
    ) -> int:
        """Add lo <= sum(val * x[idx]) <= hi; in elastic mode a labelled row may be violated at a price."""
        idx = np.asarray(idx, dtype=np.int64)
        val = np.broadcast_to(np.asarray(val, dtype=float), idx.shape).copy()
        keep = val != 0
        idx, val = idx[keep], val[keep]
        row_no = len(self.rows)
        if self.elastic and need is not None:
            below = above = None
            if lo > -INF:
                below = int(self.add_vars(1, 0.0, INF, cost=need.weight)[0])
                idx = np.append(idx, below)
                val = np.append(val, 1.0)
            if hi < INF:
                above = int(self.add_vars(1, 0.0, INF, cost=need.weight)[0])
                idx = np.append(idx, above)
                val = np.append(val, -1.0)
            self._slack_cols[row_no] = (below, above)
        self.rows.append(Row(idx, val, lo, hi, need))
        return row_no

    def add_rows(
        self,
        idx: np.ndarray,
        val: np.ndarray,
        lo: float = -INF,
        hi: float = INF,
        group: tuple[str, str] | None = None,
    ) -> None:
        """Add many rows of equal width at once: lo <= sum(val[k] * x[idx[k]]) <= hi (one rule: `group`)."""
        self.block_groups.append(group)
        idx = np.asarray(idx, dtype=np.int64)
        val = np.broadcast_to(np.asarray(val, dtype=float), idx.shape)
        k = idx.shape[0]
        self.blocks.append((idx, val, np.full(k, lo, dtype=float), np.full(k, hi, dtype=float)))

    @property
    def n_rows(self) -> int:
        return len(self.rows) + sum(len(b[2]) for b in self.blocks)

    # ----- solving -----
    def solve(
        self,
        time_limit_s: float,
        *,
        seed: int = 0,
        rel_gap: float = 1e-4,
        abs_gap: float = 1e-6,
        threads: int | None = None,
        start: dict[int, float] | None = None,
        log: bool = False,
        options: dict[str, Any] | None = None,
        drop: set[tuple[str, str]] | None = None,
        zero_cost: bool = False,
        relax: bool = False,
    ) -> SolveResult:
        """Solve with HiGHS; a time limit returns the best solution found, with its gap.

        `drop` leaves out the rows of those rules (the conflict search); `zero_cost` asks only for feasibility;
        `relax` solves the LP relaxation (no integrality).
        """
        import highspy
        from scipy import sparse

        if drop:
            kept = [r for r in self.rows if r.need is None or r.need.group not in drop]
            blocks = [b for b, g in zip(self.blocks, self.block_groups, strict=True) if g not in drop]
        else:
            kept, blocks = self.rows, self.blocks
        n, m = self.n_cols, len(kept) + sum(len(b[2]) for b in blocks)
        lb = np.concatenate(self._lb) if self._lb else np.zeros(0)
        ub = np.concatenate(self._ub) if self._ub else np.zeros(0)
        cost = np.concatenate(self._cost) if self._cost else np.zeros(0)
        integ = np.concatenate(self._int) if self._int else np.zeros(0, dtype=bool)
        for i, c in self._cost_override.items():
            cost[i] = c
        if zero_cost:
            cost = np.zeros_like(cost)
        row_parts = [np.full(len(r.idx), i) for i, r in enumerate(kept)]
        col_parts = [r.idx for r in kept]
        val_parts = [r.val for r in kept]
        row_lo = [np.array([r.lo for r in kept])]
        row_hi = [np.array([r.hi for r in kept])]
        first = len(kept)
        for idx, val, lo, hi in blocks:
            k, w = idx.shape
            row_parts.append(np.repeat(np.arange(first, first + k), w))
            col_parts.append(idx.ravel())
            val_parts.append(val.ravel())
            row_lo.append(lo)
            row_hi.append(hi)
            first += k
        if m:
            row_ids = np.concatenate(row_parts)
            col_ids = np.concatenate(col_parts)
            vals = np.concatenate(val_parts)
        else:
            row_ids = col_ids = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        keep = vals != 0
        matrix = sparse.csc_matrix((vals[keep], (row_ids[keep], col_ids[keep])), shape=(m, n))
        matrix.sum_duplicates()
        lower = np.concatenate(row_lo) if m else np.zeros(0)
        upper = np.concatenate(row_hi) if m else np.zeros(0)
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = m
        lp.col_cost_ = cost
        lp.col_lower_ = lb
        lp.col_upper_ = np.where(np.isinf(ub), highspy.kHighsInf, ub)
        lp.row_lower_ = np.where(np.isinf(lower), -highspy.kHighsInf, lower)
        lp.row_upper_ = np.where(np.isinf(upper), highspy.kHighsInf, upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        if not relax:
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integ
            ]
        h = new_highs()
        h.setOptionValue("output_flag", log)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(rel_gap))
        h.setOptionValue("mip_abs_gap", float(abs_gap))
        h.setOptionValue("random_seed", int(seed) % 2_147_483_647)
        if threads:
            h.setOptionValue("threads", int(threads))
        for key, value in (options or {}).items():
            h.setOptionValue(key, value)
        h.passModel(lp)
        if start:
            # A partial start (the x columns): HiGHS completes the continuous columns itself.
            cols = np.fromiter(start.keys(), dtype=np.int32, count=len(start))
            vals = np.fromiter(start.values(), dtype=np.float64, count=len(start))
            h.setSolution(len(cols), cols, vals)
        t0 = time.perf_counter()
        _run(h)
        seconds = time.perf_counter() - t0
        status = h.getModelStatus()
        info = h.getInfo()
        name = h.modelStatusToString(status)
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.array(h.getSolution().col_value) if has_solution else None
        if status == highspy.HighsModelStatus.kOptimal:
            kind = "optimal"
        elif status == highspy.HighsModelStatus.kInfeasible:
            kind = "infeasible"
        elif has_solution:
            kind = "feasible"
        elif status in (highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kInterrupt):
            kind = "time_limit_no_solution"
        else:
            kind = "error"
        objective = float(info.objective_function_value) if has_solution else None
        dual = float(info.mip_dual_bound) if has_solution and math.isfinite(info.mip_dual_bound) else None
        gap = _gap(objective, dual) if has_solution else None
        result = SolveResult(kind, name, objective, dual, gap, seconds, int(max(info.mip_node_count, 0)), x)
        if x is not None and self._slack_cols:
            for row_no, (below, above) in self._slack_cols.items():
                s_lo = float(x[below]) if below is not None else 0.0
                s_hi = float(x[above]) if above is not None else 0.0
                if s_lo > 1e-6 or s_hi > 1e-6:
                    result.slacks[row_no] = (s_lo, s_hi)
        return result

    def stats(self) -> dict[str, Any]:
        integ = np.concatenate(self._int) if self._int else np.zeros(0, dtype=bool)
        return {
            "columns": self.n_cols,
            "integer_columns": int(integ.sum()),
            "rows": self.n_rows,
            "nonzeros": int(sum(len(r.idx) for r in self.rows) + sum(b[0].size for b in self.blocks)),
        }


def _run(h: highspy.Highs) -> None:
    """Run HiGHS; under gevent in a native thread, so a long solve never stalls the event loop.

    (highspy releases the GIL while it solves, so other greenlets keep serving sockets meanwhile.)
    """
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency, but item_bank does not need it
        h.run()
        return
    if monkey.is_module_patched("threading"):
        import gevent

        gevent.get_hub().threadpool.apply(h.run)
    else:
        h.run()


def _gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap |primal - dual| / max(|primal|, 1e-9), 0 when both are (near) zero, as HiGHS reports it."""
    if objective is None or bound is None:
        return None
    diff = abs(objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), 1e-9)

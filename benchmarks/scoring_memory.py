"""Benchmark: scoring a whole session in memory, vectorised `score_matrix` against a plain Python loop.

Run from the repository root:  python benchmarks/scoring_memory.py [--attempts 100000 --items 100]
The form mixes single choice, true/false and multiple response (partial credit and all-or-nothing).
The loop runs on a subsample and is extrapolated to the full matrix (it would take minutes otherwise);
both run in the same process on the same data. Bit operations and popcount do not go through BLAS, so
OPENBLAS/MKL thread settings make no difference here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from item_bank.types import score_response
from scoring.rules import Rule, mask_to_letters, score_matrix


def make_session(n_attempts: int, n_items: int, seed: int) -> tuple[np.ndarray, ...]:
    """Keys, points, rules, item types and an attempts × items uint32 mask matrix with ~3% omissions."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["single", "judge", "multiple"], size=n_items, p=[0.6, 0.2, 0.2])
    n_options = np.where(kinds == "judge", 2, 4)
    keys = np.empty(n_items, dtype=np.uint32)
    rules = np.empty(n_items, dtype=np.int64)
    for j, kind in enumerate(kinds):
        if kind == "multiple":
            keys[j] = rng.integers(1, 16)
            # Most multiple items on partial credit, a few all-or-nothing, as blueprints may mix them.
            rules[j] = Rule.PARTIAL if rng.random() < 0.75 else Rule.ALL_OR_NOTHING
        else:
            keys[j] = 1 << rng.integers(0, n_options[j])
            rules[j] = Rule.EXACT
    points = np.where(kinds == "multiple", 2.0, 1.0)

    single = np.left_shift(
        np.uint32(1), rng.integers(0, n_options, size=(n_attempts, n_items)).astype(np.uint32)
    )
    several = rng.integers(1, 16, size=(n_attempts, n_items), dtype=np.uint32)
    chosen = np.where(kinds == "multiple", several, single).astype(np.uint32)
    # Right answers more often than chance, so scores are not all zero.
    right = rng.random((n_attempts, n_items)) < 0.6
    chosen = np.where(right, keys, chosen)
    chosen[rng.random((n_attempts, n_items)) < 0.03] = 0
    return chosen, keys, points, rules, kinds


def loop_score(
    chosen: np.ndarray, keys: np.ndarray, points: np.ndarray, rules: np.ndarray, kinds: np.ndarray
) -> np.ndarray:
    """The obvious per-response loop through the scalar rule, as item-by-item code would do it."""
    key_letters = [mask_to_letters(k) for k in keys]
    out = np.zeros(chosen.shape)
    for i in range(chosen.shape[0]):
        for j in range(chosen.shape[1]):
            value = mask_to_letters(chosen[i, j]) or None
            out[i, j] = score_response(kinds[j], key_letters[j], value, points[j], Rule(rules[j]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--loop-attempts", type=int, default=2_000, help="subsample size for the Python loop")
    parser.add_argument("--repeats", type=int, default=5, help="score_matrix runs; the best is reported")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    chosen, keys, points, rules, kinds = make_session(args.attempts, args.items, args.seed)
    n = chosen.size
    counts = {k: int((kinds == k).sum()) for k in ("single", "judge", "multiple")}
    print(
        f"Session: {args.attempts:,} attempts × {args.items} items = {n:,} responses "
        f"({counts['single']} single, {counts['judge']} judge, {counts['multiple']} multiple; "
        f"{int((rules == Rule.PARTIAL).sum())} on partial credit), numpy {np.__version__}"
    )

    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        earned = score_matrix(chosen, keys, points, rules)
        best = min(best, time.perf_counter() - start)

    sub = min(args.loop_attempts, args.attempts)
    start = time.perf_counter()
    looped = loop_score(chosen[:sub], keys, points, rules, kinds)
    loop_seconds = time.perf_counter() - start
    if not np.allclose(looped, earned[:sub]):
        raise SystemExit("score_matrix and the loop disagree: the benchmark is void")
    loop_rate = looped.size / loop_seconds

    print(f"{'method':<44} {'seconds':>10} {'responses/s':>14}")
    print(
        f"{'score_matrix (numpy bit ops, best of ' + str(args.repeats) + ')':<44} {best:>10.3f} {n / best:>14,.0f}"
    )
    print(
        f"{'Python loop over score_response (extrapolated)':<44} {n / loop_rate:>10.1f} {loop_rate:>14,.0f}"
        f"   measured on {sub:,} attempts ({looped.size:,} responses) in {loop_seconds:.2f} s"
    )
    print(
        f"speed-up: {loop_rate and (n / best) / loop_rate:,.0f}×; mean total {earned.sum(axis=1).mean():.2f} points"
    )


if __name__ == "__main__":
    main()

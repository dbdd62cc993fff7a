"""Calibrate the near-duplicate threshold on the shipped bank (item_bank/data/baoan_items.csv).

    python -m benchmarks.duplicates [--sample 400] [--seed 7]

For each threshold it prints how many pairs of the bank's own distinct items are flagged (false positives:
mostly one-word variants such as 属于 / 不属于) and which share of generated reworded copies is caught: for a
sample of items, the stem is reworded in one of nine ways (two adjacent characters swapped twice, clauses
reordered, punctuation changed, 的/了 added twice, one or two characters replaced, and three combinations)
and the options shuffled, keeping the answer. Both today's measure (item_bank.duplicates: stem, options and
answer) and the stem-only bigram Dice used before are measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from item_bank.duplicates import LETTERS, fingerprint, similarity
from item_bank.text import normalise_stem

BANK = Path(__file__).resolve().parent.parent / "item_bank" / "data" / "baoan_items.csv"
THRESHOLDS = (0.75, 0.8, 0.82, 0.85, 0.88, 0.9)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _cjk_positions(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if _CJK.match(c)]


def swap(s: str, rng: random.Random) -> str:
    pairs = [i for i in _cjk_positions(s) if i + 1 < len(s) and _CJK.match(s[i + 1])]
    if not pairs:
        return s
    i = rng.choice(pairs)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def replace(s: str, rng: random.Random) -> str:
    spots = _cjk_positions(s)
    if not spots:
        return s
    i = rng.choice(spots)
    return s[:i] + rng.choice("甲乙丙丁人事物时地") + s[i + 1 :]


def drop(s: str, rng: random.Random) -> str:
    spots = _cjk_positions(s)
    if not spots:
        return s
    i = rng.choice(spots)
    return s[:i] + s[i + 1 :]


def particle(s: str, rng: random.Random) -> str:
    i = rng.randrange(len(s) + 1)
    return s[:i] + rng.choice("的了") + s[i:]


def reorder(s: str, rng: random.Random) -> str:
    clauses = re.split(r"[，,；;]", s)
    if len(clauses) < 2:
        return s
    i = rng.randrange(len(clauses) - 1)
    clauses[i], clauses[i + 1] = clauses[i + 1], clauses[i]
    return "，".join(clauses)


def punctuation(s: str, rng: random.Random) -> str:
    return s.replace("，", ",").replace("。", ".").replace("（ ）", "(  )") + rng.choice(["", "。", "？"])


Reword = Callable[[str, random.Random], str]
REWORDINGS: dict[str, Reword] = {
    "two swaps": lambda s, r: swap(swap(s, r), r),
    "clauses reordered": reorder,
    "punctuation": punctuation,
    "的/了 added twice": lambda s, r: particle(particle(s, r), r),
    "one character replaced": replace,
    "two characters replaced": lambda s, r: replace(replace(s, r), r),
    "clauses + 的 + punctuation": lambda s, r: punctuation(particle(reorder(s, r), r), r),
    "swap + replace + 的": lambda s, r: particle(replace(swap(s, r), r), r),
    "replace + drop + 的": lambda s, r: particle(drop(replace(s, r), r), r),
}


def _stem_grams(stem: str) -> frozenset[str]:
    norm = normalise_stem(stem)
    return frozenset(norm[i : i + 2] for i in range(len(norm) - 1)) if len(norm) > 1 else frozenset({norm})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample", type=int, default=400, help="items reworded in each of the nine ways")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with BANK.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = [
        (r["stem"], {"options": json.loads(r["options"]) if r["options"] else []}, r["answer"]) for r in rows
    ]

    copies: list[tuple[str, int, str, dict[str, list[str]], str]] = []
    for kind, reword in REWORDINGS.items():
        for i in rng.sample(range(len(items)), min(args.sample, len(items))):
            stem, content, key = items[i]
            correct = {content["options"][LETTERS.index(c)] for c in key if c in LETTERS}
            options = list(content["options"])
            rng.shuffle(options)
            new_key = "".join(LETTERS[j] for j, text in enumerate(options) if text in correct)
            copies.append((kind, i, reword(stem, rng), {"options": options}, new_key))

    measures: dict[str, Callable[[str, dict[str, list[str]], str], frozenset[str]]] = {
        "stem + options + answer (item_bank.duplicates)": fingerprint,
        "stem only (before)": lambda stem, _content, _key: _stem_grams(stem),
    }
    print(f"{len(items)} items, {len(items) * (len(items) - 1) // 2} pairs; {len(copies)} reworded copies")
    for name, measure in measures.items():
        started = time.perf_counter()
        prints = [measure(*item) for item in items]
        flagged = Counter[float]()
        for i, a in enumerate(prints):
            for b in prints[i + 1 :]:
                score = similarity(a, b)
                for t in THRESHOLDS:
                    if score >= t:
                        flagged[t] += 1
        caught = Counter[tuple[float, str]]()
        for kind, i, stem, content, key in copies:
            score = similarity(measure(stem, content, key), prints[i])
            for t in THRESHOLDS:
                if score >= t:
                    caught[t, kind] += 1
        per_kind = len(copies) // len(REWORDINGS)
        print(f"\n{name} ({time.perf_counter() - started:.1f} s)")
        print("threshold  bank pairs flagged  copies caught  worst kind")
        for t in THRESHOLDS:
            total = sum(caught[t, k] for k in REWORDINGS) / len(copies)
            worst = min(REWORDINGS, key=lambda k, t=t: caught[t, k])
            print(
                f"  {t:.2f}     {flagged[t]:6d}             {total:6.1%}       "
                f"{caught[t, worst] / per_kind:.0%} ({worst})"
            )


if __name__ == "__main__":
    main()

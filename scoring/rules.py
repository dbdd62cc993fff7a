"""How a response becomes points, and how points become a part score out of 100.

Objective responses of a whole session are scored at once as an integer bitmask matrix:
bit k of a cell is set when option letter k (A = bit 0) was chosen, and 0 means no answer.
The scalar rules (`score_options`, `score_blanks`) serve one response at a time. Nothing here knows
item types: each type in item_bank.types names the `Method` (and option `Rule`) it is scored by.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np

PASS_MARK = 60
"""A part passes at this many points or more on its 100-point scale (DESIGN.md §1)."""

FULL_SCALE = 100

LETTERS = string.ascii_uppercase
# uint32 cells hold up to 32 options; the letters stop at Z.
MAX_OPTIONS = len(LETTERS)


class Rule(IntEnum):
    """How an option item is scored; the integer codes are what `score_matrix` takes."""

    EXACT = 0  # single choice and true/false: the chosen option is the key
    ALL_OR_NOTHING = 1  # multiple response: full points only for exactly the keyed set
    PARTIAL = 2  # multiple response: points/n_keys per keyed option chosen, 0 if any wrong one

    @classmethod
    def parse(cls, value: Rule | str | int) -> Rule:
        """The rule named by `value` ("exact", "all_or_nothing", "partial", a code or a Rule)."""
        if isinstance(value, Rule):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                names = ", ".join(r.name.lower() for r in cls)
                raise ValueError(f"未知评分规则 {value!r}（unknown scoring rule; known: {names}）") from None
        return cls(int(value))


class ScoringError(ValueError):
    """A key, response or points value that cannot be scored, with what is wrong with it."""


def letters_to_mask(letters: str | None) -> int:
    """The bitmask of option letters ("ACD" -> 0b1101); None or "" is 0 (no answer)."""
    if not letters:
        return 0
    mask = 0
    for ch in letters.strip().upper():
        k = LETTERS.find(ch)
        if k < 0:
            raise ScoringError(f"选项字母 {ch!r} 无效（option letters are A-Z）: {letters!r}")
        mask |= 1 << k
    return mask


def mask_to_letters(mask: int) -> str:
    """The sorted option letters of a bitmask (0b1101 -> "ACD"); 0 gives ""."""
    mask = int(mask)
    if mask < 0 or mask >= 1 << MAX_OPTIONS:
        raise ScoringError(f"选项掩码 {mask} 超出范围（mask outside A-Z）")
    return "".join(LETTERS[k] for k in range(MAX_OPTIONS) if mask >> k & 1)


def encode_responses(values: Sequence[Sequence[str | None]]) -> np.ndarray:
    """An attempts × items uint32 mask matrix from rows of answer letters (None = omitted)."""
    cache: dict[str | None, int] = {}
    rows = []
    for row in values:
        encoded = []
        for value in row:
            mask = cache.get(value)
            if mask is None:
                mask = cache[value] = letters_to_mask(value)
            encoded.append(mask)
        rows.append(encoded)
    if not rows:
        return np.zeros((0, 0), dtype=np.uint32)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ScoringError(f"每个作答记录的题目数应相同（rows have different lengths: {sorted(widths)}）")
    return np.asarray(rows, dtype=np.uint32)


def _as_masks(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise ScoringError(f"{name} 应为整数位掩码（integer bitmasks expected, got {arr.dtype}）")
    if arr.size and (arr.min() < 0 or arr.max() >= 1 << 32):
        raise ScoringError(f"{name} 的位掩码超出 32 位（masks must fit in 32 bits）")
    # uint32 keeps the popcount and the temporaries at 4 bytes a cell.
    return arr.astype(np.uint32, copy=False)


def score_matrix(
    chosen: np.ndarray,
    keys: np.ndarray,
    points: np.ndarray,
    rules: np.ndarray | Sequence[Rule | int],
) -> np.ndarray:
    """Points earned per attempt × item (float64) for a bitmask matrix, one rule code per item."""
    chosen = _as_masks(chosen, "chosen")
    keys = _as_masks(keys, "keys")
    points = np.asarray(points, dtype=np.float64)
    rules = np.asarray(rules, dtype=np.int64)
    if chosen.ndim != 2:
        raise ScoringError(f"chosen 应为二维矩阵（attempts × items expected, got {chosen.ndim}-d）")
    n_items = chosen.shape[1]
    for name, arr in (("keys", keys), ("points", points), ("rules", rules)):
        if arr.shape != (n_items,):
            raise ScoringError(f"{name} 的长度应为 {n_items}（one per item, got shape {arr.shape}）")
    if np.any(keys == 0):
        raise ScoringError(f"第 {np.flatnonzero(keys == 0).tolist()} 题没有答案（empty key）")
    unknown = ~np.isin(rules, [int(r) for r in Rule])
    if np.any(unknown):
        raise ScoringError(f"未知评分规则代码 {sorted(set(rules[unknown].tolist()))}（unknown rule codes）")

    n_keys = np.bitwise_count(keys)
    partial = rules == Rule.PARTIAL
    # Exact and all-or-nothing both mean "chosen == key": no wrong option and every key chosen.
    # Partial credit drops the "every key" half, so one formula covers all three rules.
    right = np.bitwise_count(chosen & keys)
    no_wrong = (chosen & ~keys) == 0
    ok = no_wrong & (partial | (right == n_keys))
    share = points / n_keys
    return np.where(ok, right * share, 0.0)


def normalise_text(text: str | None) -> str:
    """The comparable form of a fill-in answer: NFKC (full width -> half width), no whitespace, casefolded."""
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", str(text))
    return "".join(folded.split()).casefold()


class Method(StrEnum):
    """How responses become points: the names item types give their scoring by (item_bank.types)."""

    OPTIONS = (
        "options"  # option letters as bitmasks, a whole sitting at once by `score_matrix`, one Rule each
    )
    BLANKS = "blanks"  # one text per blank, each matched against its accepted answers by `score_blanks`
    PEOPLE = "people"  # marked by graders against a rubric; no rule gives points
    NOTHING = "nothing"  # earns and counts nothing (the shared stimulus of an item set)


@dataclass(frozen=True)
class ItemScoring:
    """How one form item is scored: its method and, for option items, the rule code `score_matrix` takes."""

    method: Method
    rule: Rule = Rule.EXACT

    @property
    def automatic(self) -> bool:
        """Scored by a rule here (True) or by people (False)."""
        return self.method in (Method.OPTIONS, Method.BLANKS)

    @property
    def counts(self) -> bool:
        """Part of the paper's points (False only for an item set's stimulus)."""
        return self.method is not Method.NOTHING


def _check_points(points: float) -> None:
    if points is None or points < 0:
        raise ScoringError(f"分值无效（invalid points: {points!r}）")


def score_options(
    key: str | None, value: str | None, points: float, rule: Rule | str | int = Rule.EXACT
) -> float:
    """Points earned by chosen letters `value` ("ACD") against `key` under `rule`; no answer earns 0."""
    _check_points(points)
    key_mask = letters_to_mask(key)
    if key_mask == 0:
        raise ScoringError("缺少答案（empty key for an option item）")
    chosen = letters_to_mask(value) if value else 0
    if Rule.parse(rule) == Rule.PARTIAL:
        if chosen & ~key_mask:
            return 0.0
        return float(points) * (chosen & key_mask).bit_count() / key_mask.bit_count()
    return float(points) if chosen == key_mask else 0.0


def _accepted(blank: Any) -> set[str]:
    if isinstance(blank, str):
        answers: list[str] = [blank]
    elif isinstance(blank, Mapping):
        answers = [*blank.get("answers", ()), *blank.get("synonyms", ())]
    else:
        answers = list(blank)
    accepted = {normalise_text(a) for a in answers} - {""}
    if not accepted:
        raise ScoringError(f"填空题的空没有可接受的答案（blank has no accepted answer: {blank!r}）")
    return accepted


def score_blanks(key: Any, value: Any, points: float) -> float:
    """Points earned by texts `value` (one per blank): each blank earns points/len(key) when its normalised
    text is one of the blank's accepted answers or synonyms; no answer earns 0."""
    _check_points(points)
    if isinstance(key, str | Mapping) or not isinstance(key, Sequence) or not key:
        raise ScoringError(f"填空题答案应为每空一组可接受答案的列表（key must be a list of blanks）: {key!r}")
    if value is None:
        return 0.0
    if isinstance(value, str):
        value = [value]
    correct = sum(
        1 for i, blank in enumerate(key) if i < len(value) and normalise_text(value[i]) in _accepted(blank)
    )
    return float(points) * correct / len(key)


def score_value(scoring: ItemScoring, key: Any, value: Any, points: float) -> float:
    """Points earned by one response under `scoring`; ScoringError for what people grade."""
    if scoring.method is Method.OPTIONS:
        return score_options(key, value, points, scoring.rule)
    if scoring.method is Method.BLANKS:
        return score_blanks(key, value, points)
    raise ScoringError(f"不能自动评分（{scoring.method.value}: not auto-scored; graded by people）")


def _decimal(x: float) -> Decimal:
    # str() gives the shortest repr, so 72.45 stays 72.45 instead of 72.4499999...
    return Decimal(str(float(x)))


def _round_half_up(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def part_score(earned_points: float, max_points: float) -> float:
    """earned/max on the 100-point scale, rounded half-up to 1 decimal in decimal arithmetic (72.45 -> 72.5)."""
    if max_points is None or max_points <= 0:
        raise ScoringError(f"满分必须大于 0（max points must be positive: {max_points!r}）")
    if earned_points < 0 or earned_points > max_points + 1e-9:
        raise ScoringError(f"得分 {earned_points} 超出 0-{max_points}（earned points out of range）")
    return _round_half_up(_decimal(earned_points) * FULL_SCALE / _decimal(max_points))


def weighted_part_score(
    section_earned: Mapping[str, float],
    section_max: Mapping[str, float],
    section_weights: Mapping[str, float],
) -> float:
    """Σ weight × earned/max over sections, weights normalised to sum to 100, rounded half-up to 1 decimal.

    Every section must appear in all three mappings; a section with weight 0 does not count.
    """
    names = set(section_weights)
    if set(section_earned) != names or set(section_max) != names:
        raise ScoringError(
            "各部分名称不一致（section names differ: "
            f"earned {sorted(section_earned)}, max {sorted(section_max)}, weights {sorted(section_weights)}）"
        )
    weights = {s: _decimal(w) for s, w in section_weights.items()}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ScoringError(f"权重必须非负且总和大于 0（invalid weights: {dict(section_weights)}）")
    total = Decimal(0)
    for s in sorted(names):
        if section_max[s] <= 0:
            raise ScoringError(f"部分 {s} 的满分必须大于 0（max points must be positive）")
        if not 0 <= section_earned[s] <= section_max[s] + 1e-9:
            raise ScoringError(f"部分 {s} 得分 {section_earned[s]} 超出 0-{section_max[s]}")
        total += weights[s] * _decimal(section_earned[s]) / _decimal(section_max[s])
    return _round_half_up(total * FULL_SCALE / sum(weights.values()))

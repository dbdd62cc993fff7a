"""Result rules: when a part passes, what a level requires, exemptions, and what a rescore changed.

Each rule of DESIGN.md §1 is one named function here so the web layer never re-derives it.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from scoring.rules import PASS_MARK, part_score

PartStatus = Literal["passed", "failed", "exempt", "missing"]

REQUIRED_PARTS: dict[int, tuple[str, ...]] = {
    5: ("theory", "skill"),
    4: ("theory", "skill"),
    3: ("theory", "skill"),
    # Levels 2-1: the written paper, and the thesis + defence score sheet recorded as "defence".
    2: ("written", "defence"),
    1: ("written", "defence"),
}

# Only the level-5 theory part can be waived (理论知识免试); anything else is a data error.
EXEMPTIBLE_PARTS: dict[int, frozenset[str]] = {5: frozenset({"theory"})}

PART_NAMES = {
    "theory": "理论知识",
    "skill": "操作技能",
    "written": "笔试",
    "thesis": "论文",
    "defence": "论文答辩",
}

EXEMPTION_YEARS = 3


def required_parts(level: int) -> tuple[str, ...]:
    """The parts a candidate must pass (or be exempt from) to pass `level`."""
    try:
        return REQUIRED_PARTS[level]
    except KeyError:
        raise ValueError(f"等级 {level!r} 不存在（levels are 1-5）") from None


def part_passed(score: float, pass_mark: float = PASS_MARK) -> bool:
    """True when a part score on the 100-point scale reaches the pass mark (60 or more passes)."""
    if score is None or math.isnan(score) or not 0 <= score <= 100:
        raise ValueError(f"成绩 {score!r} 不在 0-100 之间（part score must be 0-100）")
    return score >= pass_mark


def years_before(day: date, years: int) -> date:
    """The same calendar date `years` earlier; 29 Feb falls back to 28 Feb in a common year."""
    year = day.year - years
    last = calendar.monthrange(year, day.month)[1]
    return day.replace(year=year, day=min(day.day, last))


def theory_exemption(level: int, guard_cert_issued: date, exam_date: date) -> bool:
    """True when a level-5 candidate's 保安员证 was issued less than 3 years before the exam date.

    "Less than 3 years" means issued strictly after the calendar date 3 years before the exam
    (for an exam on 29 Feb that date is 28 Feb): issued on that date exactly is not exempt.
    """
    required_parts(level)
    if guard_cert_issued > exam_date:
        raise ValueError(
            f"保安员证发证日期 {guard_cert_issued} 晚于考试日期 {exam_date}（certificate issued after the exam）"
        )
    if level != 5:
        return False
    return guard_cert_issued > years_before(exam_date, EXEMPTION_YEARS)


@dataclass(frozen=True)
class PartOutcome:
    """One required part of a level result: its status and, unless exempt or missing, its score."""

    part: str
    status: PartStatus
    score: float | None


@dataclass(frozen=True)
class LevelOutcome:
    """A candidate's level result: passed is None while a required part has no score yet."""

    level: int
    passed: bool | None
    parts: tuple[PartOutcome, ...]
    reasons: tuple[str, ...]

    def status(self, part: str) -> PartStatus:
        """The status of one required part."""
        for p in self.parts:
            if p.part == part:
                return p.status
        raise KeyError(f"等级 {self.level} 不考核 {part!r}（not a required part）")


def _name(part: str) -> str:
    return PART_NAMES.get(part, part)


def level_outcome(
    level: int,
    part_scores: Mapping[str, float | None],
    exemptions: Iterable[str] = (),
    pass_mark: float = PASS_MARK,
) -> LevelOutcome:
    """The level result from part scores: failed if any part failed, else undecided if any is missing.

    An exempt part counts as passed and is recorded as exempt, never with a score; giving a score for
    an exempt part, a part the level does not require, or an exemption the level does not allow is an error.
    """
    required = required_parts(level)
    exempt = set(exemptions)
    unknown = sorted(set(part_scores) - set(required))
    if unknown:
        raise ValueError(f"等级 {level} 不考核 {unknown}（level {level} requires only {list(required)}）")
    not_allowed = sorted(exempt - EXEMPTIBLE_PARTS.get(level, frozenset()))
    if not_allowed:
        raise ValueError(f"等级 {level} 的 {not_allowed} 不能免试（no exemption allowed for these parts）")

    parts: list[PartOutcome] = []
    reasons: list[str] = []
    for part in required:
        score = part_scores.get(part)
        missing = score is None or (isinstance(score, float) and math.isnan(score))
        if part in exempt:
            if not missing:
                raise ValueError(f"{_name(part)} 已免试，不应有成绩 {score}（an exempt part has no score）")
            parts.append(PartOutcome(part, "exempt", None))
            reasons.append(f"{_name(part)}免试")
        elif missing:
            parts.append(PartOutcome(part, "missing", None))
            reasons.append(f"{_name(part)}成绩尚未录入")
        elif part_passed(score, pass_mark):
            parts.append(PartOutcome(part, "passed", float(score)))
            reasons.append(f"{_name(part)} {score:g} 分，合格")
        else:
            parts.append(PartOutcome(part, "failed", float(score)))
            reasons.append(f"{_name(part)} {score:g} 分，低于合格线 {pass_mark:g} 分")

    statuses = {p.status for p in parts}
    passed: bool | None
    if "failed" in statuses:
        # A failed part decides the level even while another part is still missing.
        passed = False
    elif "missing" in statuses:
        passed = None
    else:
        passed = True
    return LevelOutcome(level, passed, tuple(parts), tuple(reasons))


@dataclass(frozen=True)
class ItemDelta:
    """One item's points before and after a rescore."""

    item: Hashable
    old: float
    new: float

    @property
    def delta(self) -> float:
        return self.new - self.old


@dataclass(frozen=True)
class ResultChange:
    """What a rescore changed for one attempt: totals, the items that moved and, if known, the pass status."""

    attempt: Hashable
    old_total: float
    new_total: float
    items: tuple[ItemDelta, ...]
    old_score: float | None = None
    new_score: float | None = None
    old_passed: bool | None = None
    new_passed: bool | None = None

    @property
    def reason(self) -> str:
        """A Chinese summary of why the attempt changed, item by item."""
        return self.describe()

    def describe(self, labels: Mapping[Hashable, str] | None = None) -> str:
        """The reason with each item named by `labels` (e.g. its position on the paper and bank number) where
        given, else as "第 <item> 题"."""
        names = labels or {}
        moves = "；".join(f"{names.get(d.item) or f'第 {d.item} 题'} {d.old:g} → {d.new:g} 分" for d in self.items)
        text = f"总分 {self.old_total:g} → {self.new_total:g}：{moves}"
        if self.old_passed is not None and self.old_passed != self.new_passed:
            text += "；" + ("由不合格改为合格" if self.new_passed else "由合格改为不合格")
        return text


def _sort_key(x: Hashable) -> tuple[int, float, str]:
    # Attempt and item ids may mix numbers and strings: numbers first in numeric order, then text.
    if isinstance(x, int | float) and not isinstance(x, bool):
        return (0, float(x), "")
    return (1, 0.0, str(x))


def diff_results(
    old: Mapping[Hashable, Mapping[Hashable, float]],
    new: Mapping[Hashable, Mapping[Hashable, float]],
    max_points: float | None = None,
    pass_mark: float = PASS_MARK,
    tolerance: float = 1e-9,
) -> list[ResultChange]:
    """The attempts whose item points differ between two scorings (attempt → item → points), sorted by attempt.

    An item absent on one side counts as 0 points there; with `max_points` the part scores and pass
    status before and after are filled in too. Both scorings must cover the same attempts.
    """
    if set(old) != set(new):
        only_old = sorted(set(old) - set(new), key=_sort_key)
        only_new = sorted(set(new) - set(old), key=_sort_key)
        raise ValueError(
            f"两次评分的作答记录不一致（attempts differ: only before {only_old}, only after {only_new}）"
        )
    changes = []
    for attempt in sorted(old, key=_sort_key):
        before, after = old[attempt], new[attempt]
        deltas = tuple(
            ItemDelta(item, float(before.get(item, 0.0)), float(after.get(item, 0.0)))
            for item in sorted(set(before) | set(after), key=_sort_key)
            if abs(float(before.get(item, 0.0)) - float(after.get(item, 0.0))) > tolerance
        )
        if not deltas:
            continue
        old_total, new_total = float(sum(before.values())), float(sum(after.values()))
        change = ResultChange(attempt, old_total, new_total, deltas)
        if max_points is not None:
            old_score, new_score = part_score(old_total, max_points), part_score(new_total, max_points)
            change = ResultChange(
                attempt,
                old_total,
                new_total,
                deltas,
                old_score,
                new_score,
                part_passed(old_score, pass_mark),
                part_passed(new_score, pass_mark),
            )
        changes.append(change)
    return changes

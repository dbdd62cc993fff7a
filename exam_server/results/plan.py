"""A form's scoring plan: its items laid out as the arrays `scoring.rules.score_matrix` takes.

One plan serves every path: the single attempt scored at submit, the whole sitting scored at once, and
the item analysis of a sitting, so all give the same numbers bit for bit. A plan is built from a locked
form and the sitting's key corrections (复核更正), applied here and nowhere else; both never change once
made, so plans are cached per process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.results.models import KeyCorrection
from item_bank.kernel import DomainError, process_cache
from item_bank.models import Form, FormItem, ItemVersion
from item_bank.types import scoring_rule_for
from scoring.rules import (
    Method,
    letters_to_mask,
    part_score,
    score_blanks,
    score_matrix,
    weighted_part_score,
)


class PlanError(DomainError, ValueError):
    """A form or key correction that cannot be scored; names the item."""

    default_code = "plan_refused"
    default_status = 409


@dataclass(frozen=True)
class HumanItem:
    """An item graded by people: its column, version, points and type."""

    column: int
    version_id: int
    points: float
    type: str


@dataclass(frozen=True)
class ScoringPlan:
    """The items of one form as columns: option items as masks and rules, fill-in and human-graded apart."""

    form_id: int
    version_ids: tuple[int, ...]
    types: tuple[str, ...]
    points: np.ndarray
    option_columns: np.ndarray
    keys: np.ndarray
    rules: np.ndarray
    fill: tuple[tuple[int, Any, float], ...]
    human: tuple[HumanItem, ...]
    corrections: tuple[tuple[int, int], ...]
    # The key each column is scored with (a corrected one where the sitting corrected it), as stored.
    keys_as_stored: tuple[Any, ...]
    max_points: float
    detail_keys: tuple[str, ...]
    # Indices of the columns that count, or None when all do (no item-set stimulus on the form).
    kept: tuple[int, ...] | None

    @property
    def column_of(self) -> dict[int, int]:
        return {v: i for i, v in enumerate(self.version_ids)}

    @property
    def has_human_items(self) -> bool:
        return bool(self.human)

    def score(self, rows: list[Mapping[int, Any]], human_marks: list[Mapping[int, float]] | None = None) -> np.ndarray:
        """Points per attempt × item for answer rows {version id: value}; NaN where a person's mark is missing."""
        n = len(rows)
        column = self.column_of
        option_col = {int(self.version_ids[c]): j for j, c in enumerate(self.option_columns)}
        r_idx: list[int] = []
        c_idx: list[int] = []
        masks: list[int] = []
        for r, row in enumerate(rows):
            for version_id, value in row.items():
                j = option_col.get(version_id)
                if j is not None and value:
                    r_idx.append(r)
                    c_idx.append(j)
                    masks.append(mask_of(value))
        chosen = np.zeros((n, len(self.option_columns)), dtype=np.uint32)
        if masks:
            chosen[np.asarray(r_idx), np.asarray(c_idx)] = np.asarray(masks, dtype=np.uint32)
        return self.assemble(chosen, rows, human_marks, column)

    def assemble(
        self,
        chosen: np.ndarray,
        rows: list[Mapping[int, Any]],
        human_marks: list[Mapping[int, float]] | None,
        column: dict[int, int] | None = None,
    ) -> np.ndarray:
        """The full points matrix from an option mask matrix plus the fill-in values and people's marks."""
        n = chosen.shape[0]
        out = np.zeros((n, len(self.version_ids)), dtype=np.float64)
        if len(self.option_columns):
            out[:, self.option_columns] = score_matrix(chosen, self.keys, self.points[self.option_columns], self.rules)
        for col, key, pts in self.fill:
            vid = self.version_ids[col]
            for r in range(n):
                out[r, col] = score_blanks(key, rows[r].get(vid), pts)
        for h in self.human:
            for r in range(n):
                mark = human_marks[r].get(h.version_id) if human_marks is not None else None
                out[r, h.column] = np.nan if mark is None else float(mark)
        return out

    def _values(self, row: Sequence[float] | np.ndarray) -> list[float]:
        # Python floats, without the stimulus columns of item sets (they earn nothing and count nothing).
        values = row.tolist() if isinstance(row, np.ndarray) else list(row)
        return values if self.kept is None else [values[i] for i in self.kept]

    def detail(self, row: Sequence[float] | np.ndarray) -> dict[str, float]:
        """One attempt's points per item version id (the `Result.detail` of DESIGN.md)."""
        return dict(zip(self.detail_keys, self._values(row), strict=True))

    def part_score(
        self, row: Sequence[float] | np.ndarray, section_weights: Mapping[str, float] | None = None
    ) -> tuple[float, float]:
        """(earned points, 100-point part score) of one attempt's complete row; sums are exact (fsum)."""
        values = self._values(row)
        earned = math.fsum(values)
        if not section_weights:
            return earned, part_score(earned, self.max_points)
        types = self.types if self.kept is None else [self.types[i] for i in self.kept]
        maxima = self.points.tolist() if self.kept is None else [float(self.points[i]) for i in self.kept]
        earned_by: dict[str, list[float]] = {}
        max_by: dict[str, list[float]] = {}
        for t, p, m in zip(types, values, maxima, strict=True):
            earned_by.setdefault(t, []).append(p)
            max_by.setdefault(t, []).append(m)
        weights = {t: float(section_weights.get(t, 0.0)) for t in max_by}
        return earned, weighted_part_score(
            {t: math.fsum(v) for t, v in earned_by.items()}, {t: math.fsum(v) for t, v in max_by.items()}, weights
        )


def mask_of(value: Any) -> int:
    # Stored values were checked by the item type when saved; anything else scores as no answer.
    if not isinstance(value, str):
        return 0
    try:
        return letters_to_mask(value)
    except ValueError:
        return 0


# Keyed by database URL, form id, lock time and corrections: a locked form with the same corrections
# always scores the same way.
_PLAN_CACHE = process_cache("results.scoring_plans")


def corrections_of(session: Session, session_id: int) -> tuple[tuple[int, int], ...]:
    """The sitting's key corrections as (old version id, new version id), oldest first."""
    rows = session.execute(
        select(KeyCorrection.old_version_id, KeyCorrection.new_version_id)
        .where(KeyCorrection.session_id == session_id)
        .order_by(KeyCorrection.id)
    ).all()
    return tuple((int(a), int(b)) for a, b in rows)


def sitting_plan(session: Session, form_id: int, session_id: int) -> ScoringPlan:
    """The plan of a form as a sitting scores it: with the sitting's stored key corrections."""
    return build_plan(session, form_id, corrections_of(session, session_id))


def build_plan(
    session: Session, form_id: int, corrections: Iterable[tuple[int, int]] = ()
) -> ScoringPlan:
    """The plan of a form with key corrections (old version id → new version id) applied."""
    fixes = tuple(sorted((int(a), int(b)) for a, b in corrections))
    form = session.get(Form, form_id)
    if form is None:
        raise PlanError(f"试卷 {form_id} 不存在")
    # The lock time is part of the key: a form id reused by a recreated database is a different form.
    locked = form.locked_at.isoformat() if form.status == "locked" and form.locked_at else ""
    cache_key = (str(session.get_bind().url), form_id, locked, fixes)
    cached = _PLAN_CACHE.get(cache_key) if locked else None
    if cached is not None:
        return cached
    rows = session.execute(
        select(FormItem.item_version_id, FormItem.points, FormItem.scoring_rule, ItemVersion.type, ItemVersion.key)
        .join(ItemVersion, FormItem.item_version_id == ItemVersion.id)
        .where(FormItem.form_id == form_id)
    ).all()
    items = {vid: (float(points), rule, kind, key) for vid, points, rule, kind, key in rows}
    fix = dict(fixes)
    replacements: dict[int, ItemVersion] = {}
    wanted = [new for old, new in fixes if old in items]
    if wanted:
        replacements = {v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_(wanted)))}
    version_ids = sorted(items)
    types: list[str] = []
    points: list[float] = []
    option_cols: list[int] = []
    keys: list[int] = []
    rules: list[int] = []
    fill: list[tuple[int, Any, float]] = []
    human: list[HumanItem] = []
    stored_keys: list[Any] = []
    counts: list[bool] = []  # False for what earns and counts nothing (an item set's stimulus)
    for col, vid in enumerate(version_ids):
        item_points, scoring_rule, kind, key = items[vid]
        if vid in fix:
            new = replacements.get(fix[vid])
            if new is None:
                raise PlanError(f"更正答案所用的试题版本 {fix[vid]} 不存在")
            if new.type != kind:
                raise PlanError(f"试题版本 {vid} 的更正版本 {new.id} 题型不同（{kind} → {new.type}）")
            key = new.key
        stored_keys.append(key)
        types.append(kind)
        points.append(item_points)
        scoring = scoring_rule_for(kind, scoring_rule)
        counts.append(scoring.counts)
        if scoring.method is Method.OPTIONS:
            mask = letters_to_mask(key) if isinstance(key, str) else 0
            if mask == 0:
                raise PlanError(f"试题版本 {vid} 没有答案，不能评分")
            option_cols.append(col)
            keys.append(mask)
            rules.append(int(scoring.rule))
        elif scoring.method is Method.BLANKS:
            fill.append((col, key, item_points))
        elif scoring.method is Method.PEOPLE:
            human.append(HumanItem(col, vid, item_points, kind))
        elif scoring.counts:
            raise PlanError(f"题型 {kind} 不能评分（试题版本 {vid}）")
    plan = ScoringPlan(
        form_id=form_id,
        version_ids=tuple(version_ids),
        types=tuple(types),
        points=np.asarray(points, dtype=np.float64),
        option_columns=np.asarray(option_cols, dtype=np.int64),
        keys=np.asarray(keys, dtype=np.uint32),
        rules=np.asarray(rules, dtype=np.int64),
        fill=tuple(fill),
        human=tuple(human),
        corrections=fixes,
        keys_as_stored=tuple(stored_keys),
        max_points=math.fsum(p for p, c in zip(points, counts, strict=True) if c),
        detail_keys=tuple(str(v) for v, c in zip(version_ids, counts, strict=True) if c),
        kept=None if all(counts) else tuple(i for i, c in enumerate(counts) if c),
    )
    if locked:
        _PLAN_CACHE[cache_key] = plan
    return plan


__all__ = ["HumanItem", "PlanError", "ScoringPlan", "build_plan", "corrections_of", "sitting_plan"]

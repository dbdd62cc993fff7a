"""What the candidates of a sitting answered, as the item analysis reads it: per form, points, chosen
letters and omissions per attempt × objective item.

Points come from the results' one batch-scoring path (exam_server/results: the form's scoring plan with
the sitting's key corrections, and the stored answers read into it), so an item is analysed exactly as it
was scored. Items people grade (short answer, essay) and item-set stimuli are not analysed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.analysis.errors import AnalysisError
from exam_server.delivery.models import FINALISED, SCORED, SUBMITTED, Attempt
from exam_server.results.answers import load_answers
from exam_server.results.plan import PlanError, ScoringPlan, sitting_plan
from item_bank.models import Form, FormItem, Item, ItemVersion
from item_bank.types import item_type, scoring_rule_for
from scoring.rules import Method, ScoringError, mask_to_letters

if TYPE_CHECKING:
    import pandas as pd

SCORABLE = (SUBMITTED, SCORED, FINALISED)


@dataclass(frozen=True)
class AnalysedItem:
    """One objective item of a form as the analysis sees it."""

    version_id: int
    item_id: int
    external_id: str
    version_no: int
    position: int
    section: str
    type: str
    key: Any
    points: float
    rule: str
    n_options: int
    stem: str

    @property
    def label(self) -> str:
        return f"第{self.position}题 {self.external_id}"

    @property
    def has_options(self) -> bool:
        """Answered by choosing option letters (so it has distractors), as its type says."""
        return scoring_rule_for(self.type).method is Method.OPTIONS

    @property
    def key_text(self) -> str:
        if isinstance(self.key, str):
            return self.key
        if isinstance(self.key, list):
            return "；".join("/".join(map(str, b)) if isinstance(b, list) else str(b) for b in self.key)
        return ""


@dataclass
class FormData:
    """What the candidates of one form answered: points and chosen letters per attempt × item."""

    form_id: int
    form_code: str
    items: list[AnalysedItem]
    attempt_ids: list[int]
    scores: np.ndarray  # attempts × items, float points
    chosen: np.ndarray  # attempts × items, object: option letters or None (None for non-option items)
    omitted: np.ndarray  # attempts × items, bool

    @property
    def max_total(self) -> float:
        return math.fsum(i.points for i in self.items)

    def frame(self) -> pd.DataFrame:
        # pandas on first use: the analysis web domain imports this module at start-up.
        import pandas as pd

        return pd.DataFrame(self.scores, columns=[i.version_id for i in self.items])


def scorable_attempts(session: Session, exam_session_id: int) -> list[tuple[int, int]]:
    """(attempt id, form id) of every submitted attempt of the sitting, in attempt order."""
    return [
        (int(a), int(f))
        for a, f in session.execute(
            select(Attempt.id, Attempt.form_id)
            .where(Attempt.session_id == exam_session_id, Attempt.status.in_(SCORABLE))
            .order_by(Attempt.id)
        )
    ]


def form_items(session: Session, form_id: int, plan: ScoringPlan) -> list[AnalysedItem]:
    """The objective items of a form in position order (items people grade are left out), with the key the
    sitting's `plan` scores them by (a corrected one where the sitting corrected it), as the results are."""
    rows = session.execute(
        select(FormItem, ItemVersion, Item.external_id)
        .join(ItemVersion, ItemVersion.id == FormItem.item_version_id)
        .join(Item, Item.id == ItemVersion.item_id)
        .where(FormItem.form_id == form_id)
        .order_by(FormItem.position)
    ).all()
    column_of = plan.column_of
    items = []
    for number, (fi, version, external_id) in enumerate(rows, start=1):
        # Items people grade (short answer, essay) and item-set stimuli are not analysed.
        if not scoring_rule_for(version.type).automatic:
            continue
        items.append(
            AnalysedItem(
                version_id=version.id,
                item_id=version.item_id,
                external_id=external_id,
                version_no=version.version_no,
                # Positions count from 1 as on the paper, whatever the stored numbering starts at.
                position=number,
                section=fi.section,
                type=version.type,
                key=plan.keys_as_stored[column_of[version.id]],
                points=float(fi.points),
                rule=fi.scoring_rule or "exact",
                n_options=len(version.options),
                stem=version.stem,
            )
        )
    return items


def load_form_data(session: Session, exam_session_id: int, form: Form, attempt_ids: Sequence[int]) -> FormData:
    """Score the stored responses of `attempt_ids` (all on `form`, ascending) item by item, as the sitting's
    results are scored: the form's keys, points and rules with the sitting's key corrections."""
    try:
        plan = sitting_plan(session, form.id, exam_session_id)
    except PlanError as exc:
        raise AnalysisError(f"试卷 {form.code} 不能分析：{exc.message}") from exc
    items = form_items(session, form.id, plan)
    masks, others = load_answers(session, plan, exam_session_id, form.id, attempt_ids, statuses=SCORABLE)
    try:
        points = plan.assemble(masks, others, None)
    except ScoringError as exc:
        raise AnalysisError(f"试卷 {form.code} 不能评分：{exc}") from exc
    column_of = plan.column_of
    option_of = {int(plan.version_ids[c]): j for j, c in enumerate(plan.option_columns)}
    n, k = len(attempt_ids), len(items)
    scores = np.zeros((n, k), dtype=np.float64)
    chosen = np.full((n, k), None, dtype=object)
    omitted = np.zeros((n, k), dtype=bool)
    for c, it in enumerate(items):
        scores[:, c] = points[:, column_of[it.version_id]]
        j = option_of.get(it.version_id)
        if j is not None:
            column = masks[:, j]
            chosen[:, c] = [mask_to_letters(int(m)) if m else None for m in column]
            omitted[:, c] = column == 0
        else:
            kind = item_type(it.type)
            omitted[:, c] = [not kind.is_answered(row.get(it.version_id)) for row in others]
    return FormData(form.id, form.code, items, list(attempt_ids), scores, chosen, omitted)

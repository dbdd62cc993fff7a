"""Reading a sitting's stored answers and people's final marks into a scoring plan's arrays: the one batch
path results and item analysis both score by (one plan, its key corrections applied once, in plan.py).

A sitting has a million responses: they are read through the DBAPI cursor as JSON text, and each distinct
answer is decoded once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.delivery.models import SCORED, SUBMITTED, Attempt, Response
from exam_server.grading.models import FINAL, GradingTask
from exam_server.results.plan import ScoringPlan, mask_of
from item_bank.db import driver_cursor

# The attempts a sitting's results are scored from.
SCORABLE = (SUBMITTED, SCORED)
# SQLite's bound-parameter limit is far above this; chunks keep PostgreSQL statements small too.
CHUNK = 1000


def final_marks(session: Session, attempt_ids: Sequence[int]) -> dict[int, dict[int, float]]:
    """Final marks of the current grading tasks of these attempts: attempt → item version → mark."""
    marks: dict[int, dict[int, float]] = defaultdict(dict)
    for start in range(0, len(attempt_ids), CHUNK):
        chunk = list(attempt_ids[start:start + CHUNK])
        rows = session.execute(
            select(GradingTask.attempt_id, GradingTask.item_version_id, GradingTask.final_mark).where(
                GradingTask.attempt_id.in_(chunk),
                GradingTask.status == FINAL,
                GradingTask.superseded.is_(False),
                GradingTask.item_version_id.is_not(None),
            )
        ).all()
        for attempt_id, version_id, mark in rows:
            marks[int(attempt_id)][int(version_id)] = float(mark)
    return marks


def score_rows(session: Session, plan: ScoringPlan, attempt_ids: Sequence[int]) -> np.ndarray:
    """Points per attempt × item of a few attempts of one form (NaN where a person's mark is missing)."""
    values: dict[int, dict[int, Any]] = {a: {} for a in attempt_ids}
    for attempt_id, version_id, value in session.execute(
        select(Response.attempt_id, Response.item_version_id, Response.value).where(
            Response.attempt_id.in_(list(attempt_ids))
        )
    ):
        values[attempt_id][version_id] = value
    marks = final_marks(session, list(attempt_ids)) if plan.has_human_items else {}
    return plan.score([values[a] for a in attempt_ids], [marks.get(a, {}) for a in attempt_ids])


def _response_rows(
    session: Session, session_id: int, form_id: int, statuses: Sequence[str]
) -> list[tuple[int, int, str | None]]:
    """(attempt id, item version id, stored JSON text) of every response of one form's attempts in `statuses`.

    Read through the DBAPI cursor of the session's own connection and transaction: building a SQLAlchemy
    row (and decoding JSON) for each of a million responses costs more than the scoring.
    """
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    response, attempt = Response.__tablename__, Attempt.__tablename__
    sql = (
        f"SELECT r.attempt_id, r.item_version_id, CAST(r.value AS TEXT) FROM {response} r "
        f"JOIN {attempt} a ON a.id = r.attempt_id "
        f"WHERE a.session_id = {mark} AND a.form_id = {mark} AND a.status IN ({', '.join([mark] * len(statuses))})"
    )
    cursor = driver_cursor(connection)
    try:
        cursor.execute(sql, (session_id, form_id, *statuses))
        return cursor.fetchall()
    finally:
        cursor.close()


def load_answers(
    session: Session,
    plan: ScoringPlan,
    session_id: int,
    form_id: int,
    attempt_ids: Sequence[int],
    statuses: Sequence[str] = SCORABLE,
) -> tuple[np.ndarray, list[dict[int, Any]]]:
    """One form's stored answers of `attempt_ids` (sorted ascending) as the plan takes them: the option masks
    (attempts × `plan.option_columns`) and, per attempt, the other answers by item version id."""
    # pandas is imported here, on first use, not with the module: the results web domain imports this
    # module, and a restarted exam server must listen again within seconds.
    import pandas as pd

    n = len(attempt_ids)
    rows = _response_rows(session, session_id, form_id, statuses)
    chosen = np.zeros((n, len(plan.option_columns)), dtype=np.uint32)
    others: list[dict[int, Any]] = [{} for _ in range(n)]
    if not rows or not n:
        return chosen, others
    ids = np.asarray(attempt_ids, dtype=np.int64)
    att_a = np.fromiter((t[0] for t in rows), dtype=np.int64, count=len(rows))
    ver_a = np.fromiter((t[1] for t in rows), dtype=np.int64, count=len(rows))
    raw = [t[2] for t in rows]
    r = np.searchsorted(ids, att_a).clip(0, n - 1)
    in_group = ids[r] == att_a
    version_ids = np.asarray(plan.version_ids, dtype=np.int64)  # sorted by construction
    col = np.searchsorted(version_ids, ver_a).clip(0, len(version_ids) - 1)
    on_form = version_ids[col] == ver_a
    option_of_col = np.full(len(version_ids), -1, dtype=np.int64)
    option_of_col[plan.option_columns] = np.arange(len(plan.option_columns))
    j = option_of_col[col]
    # Distinct stored answers are few: decode each once.
    codes, uniques = pd.factorize(np.asarray(raw, dtype=object))
    unique_masks = np.fromiter((mask_of(json.loads(u)) for u in uniques), dtype=np.uint32, count=len(uniques))
    masks = np.where(codes >= 0, unique_masks[codes.clip(0)], 0).astype(np.uint32)
    take = in_group & on_form & (j >= 0) & (masks != 0)
    chosen[r[take], j[take]] = masks[take]
    for k in np.flatnonzero(in_group & on_form & (j < 0) & (codes >= 0)).tolist():
        value = json.loads(raw[k])
        if value is not None:
            others[int(r[k])][int(ver_a[k])] = value
    return chosen, others


def session_points(
    session: Session, session_id: int, form_id: int, plan: ScoringPlan, attempt_ids: Sequence[int]
) -> np.ndarray:
    """The points matrix of one form's scorable attempts in a sitting (rows in `attempt_ids` order, ascending),
    NaN where a person's final mark is missing."""
    chosen, others = load_answers(session, plan, session_id, form_id, attempt_ids)
    marks: list[dict[int, float]] | None = None
    if plan.has_human_items:
        found = final_marks(session, list(attempt_ids))
        marks = [found.get(a, {}) for a in attempt_ids]
    return plan.assemble(chosen, others, marks)

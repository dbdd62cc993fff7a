"""The chief grader's monitor: a sitting's progress, each grader's load, mean mark and agreement with the
other marker, and what waits for the chief grader or a panel chair. Read only."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.grading.models import (
    ADJUDICATION,
    AGREED,
    DEFENCE,
    DONE,
    INDEPENDENT,
    NEEDS_ADJUDICATION,
    OPEN,
    PANEL,
    PENDING,
    GradingAssignment,
    GradingTask,
    Mark,
)
from exam_server.grading.queries import display_names, marks_of, panel_spread, spread_tolerance
from exam_server.sessions.models import ExamSession
from scoring.grading import grader_agreement

if TYPE_CHECKING:
    import pandas as pd

# Below this many paired marks a grader's agreement figures are noise (2 pairs give a correlation of ±1):
# the monitor says 样本不足 instead.
MIN_PAIRS = 10

# pandas is imported on first use (grader agreement), not here: the grading web domain imports this
# module, and a restarted exam server must listen again within seconds.


@dataclass
class GraderLine:
    grader_id: int
    name: str
    open: int = 0
    done: int = 0
    mean_pct: float | None = None
    n_pairs: int = 0
    exact: float | None = None
    adjacent: float | None = None
    pearson_r: float | None = None
    mean_diff: float | None = None

    @property
    def too_few(self) -> bool:
        return 0 < self.n_pairs < MIN_PAIRS


@dataclass
class Monitor:
    session_id: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    graders: list[GraderLine]
    adjudication: list[GradingTask]
    awaiting_chair: list[GradingTask]
    pending: int
    total: int
    tolerance_pct: float
    # Defence tasks whose members' marks spread beyond the tolerance: (task, spread, tolerance).
    panel_spreads: list[tuple[GradingTask, float, float]]


def agreement(session: Session, session_id: int) -> tuple[pd.DataFrame, float]:
    """Per grader agreement with the other marker (n, exact, adjacent, Pearson r, mean difference) on the
    100-point scale of each task, with the adjacency tolerance used (the tasks' median, in %)."""
    import pandas as pd

    rows = session.execute(
        select(Mark.task_id, Mark.grader_id, Mark.total, GradingTask.max_points, GradingTask.tolerance)
        .join(GradingTask, GradingTask.id == Mark.task_id)
        .where(GradingTask.session_id == session_id, Mark.kind == INDEPENDENT)
    ).all()
    if not rows:
        return pd.DataFrame(columns=["n", "exact", "adjacent", "pearson_r", "mean_diff"]), 10.0
    frame = pd.DataFrame(rows, columns=["task", "grader", "total", "max_points", "tolerance"])
    frame["mark"] = frame["total"] / frame["max_points"] * 100.0
    tolerance = float((frame["tolerance"] / frame["max_points"] * 100.0).median())
    return grader_agreement(frame[["task", "grader", "mark"]], tolerance=tolerance), tolerance


def _grader_loads(session: Session, exam_session: ExamSession) -> dict[int, GraderLine]:
    """Each grader's open and done assignments and mean mark (% of full marks) in the sitting."""
    loads: dict[int, GraderLine] = {}
    counts = session.execute(
        select(GradingAssignment.grader_id, GradingAssignment.status, func.count())
        .join(GradingTask, GradingTask.id == GradingAssignment.task_id)
        .where(GradingTask.session_id == exam_session.id)
        .group_by(GradingAssignment.grader_id, GradingAssignment.status)
    ).all()
    names = display_names(session, sorted({gid for gid, _, _ in counts}))
    for gid, status, n in counts:
        line = loads.setdefault(gid, GraderLine(gid, names.get(gid, str(gid))))
        if status == OPEN:
            line.open += n
        elif status == DONE:
            line.done += n
    means: dict[int, list[float]] = defaultdict(list)
    for gid, total, max_points in session.execute(
        select(Mark.grader_id, Mark.total, GradingTask.max_points).join(GradingTask, GradingTask.id == Mark.task_id)
        .where(GradingTask.session_id == exam_session.id, Mark.kind != ADJUDICATION)
    ):
        means[gid].append(total / max_points * 100.0)
    for gid, values in means.items():
        if gid in loads:
            loads[gid].mean_pct = sum(values) / len(values)
    return loads


def monitor(session: Session, exam_session: ExamSession) -> Monitor:
    """Progress, each grader's load and agreement, and what waits for the chief grader or a panel chair."""
    import pandas as pd

    tasks = list(session.scalars(
        select(GradingTask).where(GradingTask.session_id == exam_session.id, GradingTask.superseded.is_(False))
        .order_by(GradingTask.id)
    ))
    by_status = Counter(t.status for t in tasks)
    by_kind = Counter(t.kind for t in tasks)
    loads = _grader_loads(session, exam_session)
    table, tolerance = agreement(session, exam_session.id)
    for gid, stats in table.iterrows():
        line = loads.get(int(gid))
        if line is None:
            continue
        line.n_pairs = int(stats["n"])
        if line.n_pairs < MIN_PAIRS:
            continue
        line.exact = float(stats["exact"])
        line.adjacent = float(stats["adjacent"])
        line.pearson_r = None if pd.isna(stats["pearson_r"]) else float(stats["pearson_r"])
        line.mean_diff = float(stats["mean_diff"])
    spreads = []
    for t in tasks:
        if t.kind != DEFENCE:
            continue
        tolerance_t = spread_tolerance(session, t)
        spread = panel_spread([m.total for m in marks_of(session, t.id, PANEL)], tolerance_t)
        if spread is not None:
            spreads.append((t, spread, tolerance_t))
    return Monitor(
        session_id=exam_session.id,
        by_status=dict(by_status),
        by_kind=dict(by_kind),
        graders=sorted(loads.values(), key=lambda g: g.grader_id),
        adjudication=[t for t in tasks if t.status == NEEDS_ADJUDICATION],
        awaiting_chair=[t for t in tasks if t.status == AGREED and t.kind == DEFENCE],
        pending=by_status.get(PENDING, 0),
        total=len(tasks),
        tolerance_pct=tolerance,
        panel_spreads=spreads,
    )


def sessions_with_tasks(session: Session) -> list[tuple[ExamSession, int]]:
    """Sittings that have grading tasks, newest first, with how many current tasks each has."""
    return [(s, int(n)) for s, n in session.execute(
        select(ExamSession, func.count(GradingTask.id))
        .join(GradingTask, GradingTask.session_id == ExamSession.id)
        .where(GradingTask.superseded.is_(False))
        .group_by(ExamSession.id).order_by(ExamSession.starts_at.desc())
    ).all()]

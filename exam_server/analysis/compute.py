"""Item analysis of a sitting (试题分析): load what candidates answered and run the classical and IRT
analysis of scoring.ctt / scoring.irt on it.

Per form: the classical tables (difficulty p, corrected item-total r, omissions, distractors by the
upper and lower 27 %, alpha / KR-20, SEM, the score distribution) and the review flags. Per session:
one IRT calibration over every form's candidates together (items a candidate was not given are
missing, not wrong), so an item on two parallel forms gets one estimate. Items people grade
(short answer, essay) are not analysed; the rest are scored from the stored responses and the
form's keys, points and rules, exactly as the results are. Nothing here changes the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import scoring
from exam_server.analysis.errors import AnalysisError
from exam_server.analysis.irt import IRTFit, fit_irt
from exam_server.analysis.loading import (
    SCORABLE,
    AnalysedItem,
    FormData,
    load_form_data,
    scorable_attempts,
)
from exam_server.analysis.settings import AnalysisSettings
from exam_server.delivery.models import Attempt
from exam_server.results.models import KeyCorrection
from exam_server.sessions.models import ExamSession
from exam_server.sessions.operations import exam_session_by_ref
from item_bank.db import utcnow
from item_bank.kernel import process_cache
from item_bank.models import Form
from item_bank.types import item_type

if TYPE_CHECKING:
    import pandas as pd

    from scoring.ctt import ItemAnalysis

# pandas and threadpoolctl are imported by the functions that analyse, and scoring.ctt / scoring.irt on first
# use of their names (scoring/__init__.py): the analysis web domain imports this module, and a restarted exam
# server must listen again within seconds.

@dataclass
class FormAnalysis:
    """The classical analysis of one form with a display table joining the IRT estimates and flags."""

    data: FormData
    ctt: ItemAnalysis
    table: pd.DataFrame
    totals: np.ndarray

    @property
    def form_id(self) -> int:
        return self.data.form_id

    @property
    def form_code(self) -> str:
        return self.data.form_code

    def item(self, version_id: int) -> AnalysedItem:
        for it in self.data.items:
            if it.version_id == version_id:
                return it
        raise AnalysisError(f"试卷 {self.form_code} 中没有试题版本 {version_id}")

    def flag_reasons(self, version_id: int) -> list[str]:
        """Why the classical analysis flagged this item on this form (none when it did not)."""
        return list(self.ctt.flags[self.ctt.flags["item"] == version_id]["reason"])


@dataclass
class SessionAnalysis:
    """Everything about one sitting: every form's analysis, the session's IRT fit and all flags."""

    exam_session_id: int
    code: str
    name: str
    pass_mark: float
    settings: AnalysisSettings
    forms: list[FormAnalysis]
    irt: IRTFit
    flags: pd.DataFrame  # form_id, form_code, version_id, position, external_id, code, reason
    computed_at: Any
    seconds: float
    n_attempts: int
    # Rendered plots by (kind, form id, version id): a figure is drawn once per analysis.
    png: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    def form(self, form_id: int) -> FormAnalysis:
        for f in self.forms:
            if f.form_id == form_id:
                return f
        raise AnalysisError(f"考试场次 {self.code} 没有试卷 {form_id} 的作答")

    def flagged_version_ids(self) -> list[int]:
        return list(dict.fromkeys(int(v) for v in self.flags["version_id"]))

    def appearances(self, version_id: int) -> list[tuple[FormAnalysis, AnalysedItem, pd.Series]]:
        """Each form the item version is on, with the item there and its classical statistics on that form."""
        return [
            (f, f.item(version_id), f.ctt.items.loc[version_id])
            for f in self.forms
            if version_id in {it.version_id for it in f.data.items}
        ]

    def version_stats(self) -> pd.DataFrame:
        """Per item version over the whole session: n presented, p (pooled over forms), and IRT estimates."""
        import pandas as pd

        rows: dict[int, dict[str, float]] = {}
        for f in self.forms:
            for vid, row in f.ctt.items.iterrows():
                acc = rows.setdefault(int(vid), {"n": 0.0, "p_sum": 0.0})
                acc["n"] += float(row["n"])
                acc["p_sum"] += float(row["p"]) * float(row["n"])
        out = pd.DataFrame(
            {
                "n": {v: r["n"] for v, r in rows.items()},
                "p": {v: (r["p_sum"] / r["n"]) if r["n"] else np.nan for v, r in rows.items()},
            }
        )
        out.index.name = "version_id"
        out["n"] = out["n"].astype(int)
        if self.irt.fitted:
            out = out.join(self.irt.params[["a", "b", "c", "se_a", "se_b", "se_c"]], how="left")
        else:
            for col in ("a", "b", "c", "se_a", "se_b", "se_c"):
                out[col] = np.nan
        return out


# ---------------------------------------------------------------- the analysis


def _histogram_edges(max_total: float, bins: int = 10) -> np.ndarray:
    return np.linspace(0.0, max_total if max_total > 0 else 1.0, bins + 1)


def analyse_form(data: FormData, settings: AnalysisSettings) -> FormAnalysis:
    """The classical analysis of one form (scoring.ctt.item_analysis) with omissions from the responses."""
    import pandas as pd

    keys = [it.key if it.has_options else None for it in data.items]
    ctt = scoring.item_analysis(
        data.frame(),
        chosen=data.chosen,
        keys=keys,
        max_points=[it.points for it in data.items],
        thresholds=settings.thresholds,
        bins=list(_histogram_edges(data.max_total)),
    )
    # Omission comes from the responses themselves, so fill-in items count too.
    with np.errstate(invalid="ignore", divide="ignore"):
        ctt.items["omit_rate"] = data.omitted.sum(axis=0) / max(len(data.attempt_ids), 1)
    totals = data.scores.sum(axis=1)
    return FormAnalysis(data=data, ctt=ctt, table=pd.DataFrame(), totals=totals)


def _flag_frame(forms: Sequence[FormAnalysis]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for f in forms:
        items = {it.version_id: it for it in f.data.items}
        for r in f.ctt.flags.itertuples():
            it = items[int(r.item)]
            rows.append(
                dict(
                    form_id=f.form_id,
                    form_code=f.form_code,
                    version_id=it.version_id,
                    position=it.position,
                    external_id=it.external_id,
                    code=r.code,
                    reason=r.reason,
                )
            )
    return pd.DataFrame(
        rows, columns=["form_id", "form_code", "version_id", "position", "external_id", "code", "reason"]
    )


def _display_table(f: FormAnalysis, irt: IRTFit) -> pd.DataFrame:
    import pandas as pd

    items = f.ctt.items
    reasons = f.ctt.flags.groupby("item")["reason"].apply(lambda s: "；".join(s)) if len(f.ctt.flags) else {}
    codes = f.ctt.flags.groupby("item")["code"].apply(lambda s: ",".join(s)) if len(f.ctt.flags) else {}
    rows = []
    for it in f.data.items:
        s = items.loc[it.version_id]
        est = irt.params.loc[it.version_id] if irt.fitted and it.version_id in irt.params.index else None
        rows.append(
            {
                "position": it.position,
                "version_id": it.version_id,
                "external_id": it.external_id,
                "type": item_type(it.type).short_label,
                "key": it.key_text,
                "points": it.points,
                "n": int(s["n"]),
                "mean": float(s["mean"]),
                "p": float(s["p"]),
                "r_corrected": float(s["r_corrected"]),
                "omit_rate": float(s["omit_rate"]),
                "a": float(est["a"]) if est is not None else np.nan,
                "b": float(est["b"]) if est is not None else np.nan,
                "c": float(est["c"]) if est is not None else np.nan,
                "se_a": float(est["se_a"]) if est is not None else np.nan,
                "se_b": float(est["se_b"]) if est is not None else np.nan,
                "flag_codes": codes.get(it.version_id, "") if len(f.ctt.flags) else "",
                "flags": reasons.get(it.version_id, "") if len(f.ctt.flags) else "",
            }
        )
    return pd.DataFrame(rows)


# The last few analyses (LRU), keyed by database, sitting, settings and what the sitting's answers are now.
_CACHE = process_cache("analysis.sessions", max_entries=4)
_CACHE_LOCK = threading.Lock()


def _fingerprint(session: Session, exam_session_id: int) -> tuple[Any, ...]:
    """Changes whenever an attempt of the sitting is submitted, reopened or resubmitted, or a key is corrected."""
    # The attempts' random seeds tell apart two databases rebuilt with the same ids and times.
    count, top, last, seeds = session.execute(
        select(
            func.count(Attempt.id),
            func.max(Attempt.id),
            func.max(Attempt.submitted_at),
            func.sum(Attempt.seed),
        ).where(Attempt.session_id == exam_session_id, Attempt.status.in_(SCORABLE))
    ).one()
    corrections = session.execute(
        select(func.count(KeyCorrection.id), func.max(KeyCorrection.created_at))
        .where(KeyCorrection.session_id == exam_session_id)
    ).one()
    return int(count or 0), int(top or 0), str(last), int(seeds or 0), int(corrections[0] or 0), str(corrections[1])


def analyse_session(
    session: Session,
    exam_session: ExamSession,
    settings: AnalysisSettings | None = None,
    *,
    cache: bool = True,
) -> SessionAnalysis:
    """The item analysis of a sitting: each form's classical tables, one IRT fit, every flag.

    Cached per process until an attempt of the sitting is submitted or reopened.
    """
    settings = settings or AnalysisSettings()
    key = (str(session.get_bind().url), exam_session.id, settings, _fingerprint(session, exam_session.id))
    if cache:
        with _CACHE_LOCK:
            hit = _CACHE.pop(key, None)
            if hit is not None:
                _CACHE[key] = hit  # the most recently used goes last, the last to be dropped
                return hit
    started = time.perf_counter()
    by_form: dict[int, list[int]] = {}
    for attempt_id, form_id in scorable_attempts(session, exam_session.id):
        by_form.setdefault(form_id, []).append(attempt_id)
    if not by_form:
        raise AnalysisError(f"考试场次 {exam_session.code} 还没有已交卷的作答，无法分析")
    datas = []
    for form_id in sorted(by_form):
        form = session.get(Form, form_id)
        assert form is not None
        data = load_form_data(session, exam_session.id, form, by_form[form_id])
        if data.items:
            datas.append(data)
    if not datas:
        raise AnalysisError(f"考试场次 {exam_session.code} 的试卷没有可自动评分的试题")
    forms = [analyse_form(d, settings) for d in datas]
    irt = fit_irt(datas, settings)
    for f in forms:
        f.table = _display_table(f, irt)
    result = SessionAnalysis(
        exam_session_id=exam_session.id,
        code=exam_session.code,
        name=exam_session.name,
        pass_mark=float(exam_session.blueprint.pass_mark) if exam_session.blueprint else 60.0,
        settings=settings,
        forms=forms,
        irt=irt,
        flags=_flag_frame(forms),
        computed_at=utcnow(),
        seconds=time.perf_counter() - started,
        n_attempts=sum(len(d.attempt_ids) for d in datas),
    )
    if cache:
        with _CACHE_LOCK:
            _CACHE[key] = result
    return result


def find_session(session: Session, ref: str | int) -> ExamSession:
    """The sitting with this code, or this id."""
    found = exam_session_by_ref(session, ref)
    if found is None:
        raise AnalysisError(f"没有考试场次 {str(ref).strip()}")
    return found


# ---------------------------------------------------------------- per form


def form_summary(analysis: SessionAnalysis) -> pd.DataFrame:
    """One row per form: persons, items, the totals' distribution, alpha / KR-20, SEM and pass rate."""
    import pandas as pd

    rows = []
    for f in analysis.forms:
        s = f.ctt.form.to_dict()
        max_total = f.data.max_total
        passed = float(np.mean(f.totals * 100 / max_total >= analysis.pass_mark)) if max_total else np.nan
        rows.append(
            {
                "form_id": f.form_id,
                "form_code": f.form_code,
                "max_total": max_total,
                **s,
                "pass_rate": passed,
                "n_flagged": int(f.ctt.flags["item"].nunique()) if len(f.ctt.flags) else 0,
            }
        )
    return pd.DataFrame(rows)


def fmt_num(x: Any, digits: int = 2) -> str:
    """A statistic for people to read: `digits` decimals, or "—" where there is none."""
    return "—" if x is None or not np.isfinite(float(x)) else f"{float(x):.{digits}f}"

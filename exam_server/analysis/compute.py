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

import math
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery.models import FINALISED, SCORED, SUBMITTED, Attempt, Response
from exam_server.sessions.models import ExamSession
from item_bank.db import utcnow
from item_bank.models import Form, FormItem, Item, ItemVersion
from item_bank.types import item_type
from scoring.rules import Rule, ScoringError, letters_to_mask, score_blanks, score_matrix

if TYPE_CHECKING:
    import pandas as pd

    from scoring.ctt import FlagThresholds, ItemAnalysis
    from scoring.irt import IRTModel

# pandas, threadpoolctl, scoring.ctt and scoring.irt are imported by the functions that analyse, on first
# use: the analysis web domain imports this module, and a restarted exam server must listen again within
# seconds.

SCORABLE = (SUBMITTED, SCORED, FINALISED)
OPTION_TYPES = ("single", "judge", "multiple")
MODELS = ("rasch", "2pl", "3pl")
MODEL_LABELS = {"rasch": "Rasch 模型", "2pl": "双参数模型 2PL", "3pl": "三参数模型 3PL"}
TYPE_LABELS = {"single": "单选", "multiple": "多选", "judge": "判断", "fill": "填空"}
SCORE_GROUPS = 5
ICC_GROUPS = 10
# An item enters the IRT calibration only with at least this many right and this many wrong answers.
IRT_MIN_CLASS = 5
# |a| or |b| beyond this after a calibration that did not converge: the item's estimates ran away.
RUNAWAY = 8.0


class AnalysisError(Exception):
    """An analysis that cannot be made or acted on: names the session, form or item at fault."""


def _default_thresholds() -> FlagThresholds:
    from scoring.ctt import FlagThresholds

    return FlagThresholds(distractor_margin=0.05)


@dataclass(frozen=True)
class AnalysisSettings:
    """How a sitting is analysed: the IRT model, when estimates may be accepted, when items are flagged."""

    model: str = "2pl"
    # Estimates are stored on an item version only from at least this many responses.
    min_n: int = 200
    # Below this many candidates no IRT model is fitted at all (the classical tables still are).
    irt_min_persons: int = 50
    # EM stops when no parameter moves by tol: 1e-4 is far finer than the two decimals anyone reads,
    # and max_iter bounds a page load (a 3PL on a few hundred candidates may creep for thousands of steps).
    tol: float = 1e-4
    max_iter: int = 500
    # A 5-point margin keeps sampling noise (about 80 people per 27 % group) from flagging every distractor
    # the upper group picks a hair more often than the lower.
    thresholds: FlagThresholds = field(default_factory=_default_thresholds)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise AnalysisError(f"未知的IRT模型 {self.model!r}，可选 {', '.join(MODELS)}")
        if self.min_n < 1:
            raise AnalysisError(f"接受估计所需的最少作答人数应为正数（{self.min_n}）")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> AnalysisSettings:
        """Settings from the app config (ITEM_ANALYSIS_MODEL, ITEM_ANALYSIS_MIN_N, ITEM_ANALYSIS_THRESHOLDS)
        or the same-named environment variables, then `overrides` (None values ignored)."""
        from scoring.ctt import FlagThresholds

        model = config.get("ITEM_ANALYSIS_MODEL") or os.environ.get("ITEM_ANALYSIS_MODEL") or "2pl"
        min_n = config.get("ITEM_ANALYSIS_MIN_N") or os.environ.get("ITEM_ANALYSIS_MIN_N") or 200
        thresholds = FlagThresholds(
            **{"distractor_margin": 0.05, **dict(config.get("ITEM_ANALYSIS_THRESHOLDS") or {})}
        )
        settings = cls(model=str(model).lower(), min_n=int(min_n), thresholds=thresholds)
        kept = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **kept) if kept else settings


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
        import pandas as pd

        return pd.DataFrame(self.scores, columns=[i.version_id for i in self.items])


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame()


def _empty_series() -> pd.Series:
    import pandas as pd

    return pd.Series(dtype=float)


@dataclass
class IRTFit:
    """One IRT calibration over the session's candidates, or why there is none."""

    model: str
    message: str = ""
    params: pd.DataFrame = field(default_factory=_empty_frame)  # index version id: a b c se_a se_b se_c n
    excluded: dict[int, str] = field(default_factory=dict)
    theta: pd.Series = field(default_factory=_empty_series)  # index attempt id: EAP
    converged: bool = False
    loglik: float = float("nan")
    n_iter: int = 0
    n_persons: int = 0
    seconds: float = 0.0

    @property
    def fitted(self) -> bool:
        return not self.params.empty


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


# ---------------------------------------------------------------- loading responses


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


def corrected_keys(session: Session, exam_session_id: int) -> dict[int, Any]:
    """The sitting's key corrections (复核更正): the key to use per version id on its forms."""
    from exam_server.results.models import KeyCorrection

    rows = session.execute(
        select(KeyCorrection.old_version_id, ItemVersion.key)
        .join(ItemVersion, ItemVersion.id == KeyCorrection.new_version_id)
        .where(KeyCorrection.session_id == exam_session_id)
    ).all()
    return {int(old): key for old, key in rows}


def form_items(session: Session, form_id: int, keys: dict[int, Any] | None = None) -> list[AnalysedItem]:
    """The objective items of a form in position order (items people grade are left out), scored with
    the sitting's corrected `keys` where there are any, as the results are."""
    rows = session.execute(
        select(FormItem, ItemVersion, Item.external_id)
        .join(ItemVersion, ItemVersion.id == FormItem.item_version_id)
        .join(Item, Item.id == ItemVersion.item_id)
        .where(FormItem.form_id == form_id)
        .order_by(FormItem.position)
    ).all()
    items = []
    for number, (fi, version, external_id) in enumerate(rows, start=1):
        # Items people grade (short answer, essay) and item-set stimuli are not analysed.
        if version.type not in OPTION_TYPES and version.type != "fill":
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
                key=(keys or {}).get(version.id, version.key),
                points=float(fi.points),
                rule=fi.scoring_rule or "exact",
                n_options=len(version.options),
                stem=version.stem,
            )
        )
    return items


def load_form_data(
    session: Session, form: Form, attempt_ids: Sequence[int], keys: dict[int, Any] | None = None
) -> FormData:
    """Score the stored responses of `attempt_ids` (all on `form`) item by item with the form's keys,
    or the sitting's corrected `keys` (version id → key)."""
    items = form_items(session, form.id, keys)
    n, k = len(attempt_ids), len(items)
    row_of = {a: r for r, a in enumerate(attempt_ids)}
    col_of = {it.version_id: c for c, it in enumerate(items)}
    values = np.full((n, k), None, dtype=object)
    ids = list(attempt_ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for attempt_id, version_id, value in session.execute(
            select(Response.attempt_id, Response.item_version_id, Response.value).where(
                Response.attempt_id.in_(chunk)
            )
        ):
            c = col_of.get(version_id)
            if c is not None:
                values[row_of[attempt_id], c] = value
    omitted = np.zeros((n, k), dtype=bool)
    for c, it in enumerate(items):
        kind = item_type(it.type)
        omitted[:, c] = [not kind.is_answered(v) for v in values[:, c]]
    scores = np.zeros((n, k), dtype=np.float64)
    chosen = np.full((n, k), None, dtype=object)
    option_cols = [c for c, it in enumerate(items) if it.type in OPTION_TYPES]
    if option_cols:
        masks = np.zeros((n, len(option_cols)), dtype=np.uint32)
        for j, c in enumerate(option_cols):
            for r in range(n):
                masks[r, j] = _mask(values[r, c])
                chosen[r, c] = values[r, c] if masks[r, j] else None
        keys = []
        for c in option_cols:
            it = items[c]
            key = letters_to_mask(it.key) if isinstance(it.key, str) else 0
            if key == 0:
                raise AnalysisError(f"试卷 {form.code} {it.label} 没有答案，不能分析")
            keys.append(key)
        rules = [
            int(Rule.parse(items[c].rule)) if items[c].type == "multiple" else int(Rule.EXACT)
            for c in option_cols
        ]
        points = [items[c].points for c in option_cols]
        scores[:, option_cols] = score_matrix(
            masks, np.asarray(keys, dtype=np.uint32), np.asarray(points), np.asarray(rules)
        )
    for c, it in enumerate(items):
        if it.type == "fill":
            try:
                scores[:, c] = [score_blanks(it.key, v, it.points) for v in values[:, c]]
            except ScoringError as exc:
                raise AnalysisError(f"试卷 {form.code} {it.label} 不能评分：{exc}") from exc
    return FormData(form.id, form.code, items, list(attempt_ids), scores, chosen, omitted)


def _mask(value: Any) -> int:
    # Stored values were checked by the item type when saved; anything else counts as no answer.
    if not isinstance(value, str):
        return 0
    try:
        return letters_to_mask(value)
    except ScoringError:
        return 0


# ---------------------------------------------------------------- the analysis


def _histogram_edges(max_total: float, bins: int = 10) -> np.ndarray:
    return np.linspace(0.0, max_total if max_total > 0 else 1.0, bins + 1)


def analyse_form(data: FormData, settings: AnalysisSettings) -> FormAnalysis:
    """The classical analysis of one form (scoring.ctt.item_analysis) with omissions from the responses."""
    import pandas as pd

    from scoring.ctt import item_analysis

    keys = [it.key if it.type in OPTION_TYPES else None for it in data.items]
    ctt = item_analysis(
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


def fit_irt(forms: Sequence[FormData], settings: AnalysisSettings) -> IRTFit:
    """Calibrate the session's items together (full credit = 1); items not on a form are missing there."""
    import pandas as pd

    fit = IRTFit(model=settings.model)
    columns: list[int] = list(dict.fromkeys(it.version_id for f in forms for it in f.items))
    attempt_ids = [a for f in forms for a in f.attempt_ids]
    fit.n_persons = len(attempt_ids)
    if fit.n_persons < settings.irt_min_persons:
        fit.message = f"作答人数 {fit.n_persons} 少于 {settings.irt_min_persons}，未做IRT估计"
        return fit
    col = {v: j for j, v in enumerate(columns)}
    u = np.full((len(attempt_ids), len(columns)), np.nan)
    row = 0
    for f in forms:
        points = np.array([it.points for it in f.items])
        right = (f.scores >= points[None, :] - 1e-9).astype(float)
        idx = [col[it.version_id] for it in f.items]
        u[row : row + len(f.attempt_ids), idx] = right
        row += len(f.attempt_ids)
    keep = []
    for j, vid in enumerate(columns):
        seen = u[~np.isnan(u[:, j]), j]
        right = int(seen.sum())
        if len(seen) < 2:
            fit.excluded[vid] = "作答人数不足"
        elif min(right, len(seen) - right) < IRT_MIN_CLASS:
            # A handful of right (or wrong) answers can be perfectly separated by ability, and then
            # the slope runs off to infinity instead of converging.
            fit.excluded[vid] = (
                f"答对 {right} 人、答错 {len(seen) - right} 人，少于 {IRT_MIN_CLASS} 人无法估计"
            )
        else:
            keep.append(j)
    started = time.perf_counter()
    for _round in range(3):
        if len(keep) < 2:
            fit.message = "可估计的试题少于两题，未做IRT估计"
            fit.params = pd.DataFrame()
            return fit
        model, theta, caught = _fit_once(u[:, keep], [columns[j] for j in keep], settings)
        params = model.item_parameters()
        runaway = [
            j
            for j, (a, b) in zip(keep, zip(params["a"], params["b"], strict=True), strict=True)
            if not (abs(a) <= RUNAWAY and abs(b) <= RUNAWAY)
        ]
        if model.converged_ or not runaway:
            break
        # An item whose estimates run away keeps the whole calibration from converging: set it aside
        # and fit the others again.
        for j in runaway:
            row_ = params.iloc[keep.index(j)]
            fit.excluded[columns[j]] = f"估计发散（a={row_['a']:.1f}，b={row_['b']:.1f}），已排除后重新估计"
        keep = [j for j in keep if j not in runaway]
    kept_ids = [columns[j] for j in keep]
    fit.seconds = time.perf_counter() - started
    fit.converged = bool(model.converged_)
    fit.loglik = float(model.loglik_)
    fit.n_iter = int(model.n_iter_)
    params.index = pd.Index(kept_ids, name="version_id")
    params["n"] = (~np.isnan(u[:, keep])).sum(axis=0)
    fit.params = params
    fit.theta = pd.Series(theta, index=pd.Index(attempt_ids, name="attempt_id"))
    if not fit.converged:
        fit.message = "IRT 估计未收敛：" + "；".join(str(w.message) for w in caught)[:300]
    return fit


def _fit_once(
    u: np.ndarray, ids: list[int], settings: AnalysisSettings
) -> tuple[IRTModel, np.ndarray, list[Any]]:
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from scoring.irt import IRTConvergenceWarning, IRTModel

    frame = pd.DataFrame(u, columns=ids)
    model = IRTModel(settings.model, tol=settings.tol, max_iter=settings.max_iter)
    # The products are small (persons × items × 61 nodes): BLAS threads fighting the server's other work
    # cost far more than they give (300 × 100 2PL on a busy 2-core machine: 0.8 s on one thread, 10 s on two).
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IRTConvergenceWarning)
        model.fit(frame)
        theta, _ = model.abilities(frame)
    return model, theta, list(caught)


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
                "type": TYPE_LABELS.get(it.type, it.type),
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


_CACHE: OrderedDict[tuple[Any, ...], SessionAnalysis] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


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
    from exam_server.results.models import KeyCorrection

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
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
    started = time.perf_counter()
    by_form: dict[int, list[int]] = {}
    for attempt_id, form_id in scorable_attempts(session, exam_session.id):
        by_form.setdefault(form_id, []).append(attempt_id)
    if not by_form:
        raise AnalysisError(f"考试场次 {exam_session.code} 还没有已交卷的作答，无法分析")
    keys = corrected_keys(session, exam_session.id)
    datas = []
    for form_id in sorted(by_form):
        form = session.get(Form, form_id)
        assert form is not None
        data = load_form_data(session, form, by_form[form_id], keys)
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
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def find_session(session: Session, ref: str | int) -> ExamSession:
    """The sitting with this code, or this id."""
    text = str(ref).strip()
    found = session.scalar(select(ExamSession).where(ExamSession.code == text))
    if found is None and text.isdigit():
        found = session.get(ExamSession, int(text))
    if found is None:
        raise AnalysisError(f"没有考试场次 {text}")
    return found


# ---------------------------------------------------------------- what the plots show


def distractor_curves(f: FormAnalysis, version_id: int) -> tuple[list[str], dict[str, list[float]]]:
    """Share choosing each option (and omitting, "-") in each of five total-score groups, lowest first."""
    it = f.item(version_id)
    c = [i.version_id for i in f.data.items].index(version_id)
    order = np.argsort(f.totals, kind="stable")
    groups = [g for g in np.array_split(order, SCORE_GROUPS) if len(g)]
    labels = []
    for g in groups:
        lo, hi = f.totals[g].min(), f.totals[g].max()
        labels.append(f"{lo:g}-{hi:g}分\n{len(g)}人")
    shares: dict[str, list[float]] = {}
    letters = [chr(65 + k) for k in range(it.n_options)] if it.type in OPTION_TYPES else []
    for letter in letters:
        shares[letter] = [
            float(np.mean([isinstance(v, str) and letter in v for v in f.data.chosen[g, c]])) for g in groups
        ]
    shares["-"] = [float(f.data.omitted[g, c].mean()) for g in groups]
    return labels, shares


def empirical_icc(
    analysis: SessionAnalysis, f: FormAnalysis, version_id: int
) -> tuple[list[float], list[float], list[int], bool]:
    """Observed share of full credit per ability group: (x, y, n, x is θ). Groups by EAP θ when an
    IRT model was fitted, else by total score."""
    c = [i.version_id for i in f.data.items].index(version_id)
    it = f.data.items[c]
    right = (f.data.scores[:, c] >= it.points - 1e-9).astype(float)
    by_theta = analysis.irt.fitted
    x = analysis.irt.theta.reindex(f.data.attempt_ids).to_numpy() if by_theta else f.totals
    order = np.argsort(x, kind="stable")
    xs, ys, ns = [], [], []
    for g in np.array_split(order, ICC_GROUPS):
        if len(g):
            xs.append(float(np.mean(x[g])))
            ys.append(float(right[g].mean()))
            ns.append(len(g))
    return xs, ys, ns, by_theta


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


def fmt_num(x: Any) -> str:
    return "—" if x is None or not np.isfinite(float(x)) else f"{float(x):.2f}"

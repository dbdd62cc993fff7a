"""One IRT calibration over a sitting's candidates (scoring.irt by marginal maximum likelihood): items a
candidate was not given are missing, not wrong, so an item on two parallel forms gets one estimate."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

import scoring
from exam_server.analysis.loading import FormData
from exam_server.analysis.settings import AnalysisSettings

if TYPE_CHECKING:
    import pandas as pd

    from scoring.irt import IRTModel

# pandas and threadpoolctl are imported when a calibration runs, and scoring.irt on first use of its names
# (scoring/__init__.py): the analysis web domain imports this module, and a restarted exam server must
# listen again within seconds.

# An item enters the IRT calibration only with at least this many right and this many wrong answers.
IRT_MIN_CLASS = 5
# |a| or |b| beyond this after a calibration that did not converge: the item's estimates ran away.
RUNAWAY = 8.0


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

    frame = pd.DataFrame(u, columns=ids)
    model = scoring.IRTModel(settings.model, tol=settings.tol, max_iter=settings.max_iter)
    # The products are small (persons × items × 61 nodes): BLAS threads fighting the server's other work
    # cost far more than they give (300 × 100 2PL on a busy 2-core machine: 0.8 s on one thread, 10 s on two).
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scoring.IRTConvergenceWarning)
        model.fit(frame)
        theta, _ = model.abilities(frame)
    return model, theta, list(caught)

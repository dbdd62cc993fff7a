"""How a sitting is analysed: the IRT model, when estimates may be accepted, when items are flagged; from the
app's configuration or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

# The package imports scoring.ctt (and pandas) on first use of a name, not here (scoring/__init__.py).
import scoring
from exam_server.analysis.errors import AnalysisError

if TYPE_CHECKING:
    from scoring.ctt import FlagThresholds

MODELS = ("rasch", "2pl", "3pl")
MODEL_LABELS = {"rasch": "Rasch 模型", "2pl": "双参数模型 2PL", "3pl": "三参数模型 3PL"}


def _default_thresholds() -> FlagThresholds:
    return scoring.FlagThresholds(distractor_margin=0.05)


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
        model = config.get("ITEM_ANALYSIS_MODEL") or os.environ.get("ITEM_ANALYSIS_MODEL") or "2pl"
        min_n = config.get("ITEM_ANALYSIS_MIN_N") or os.environ.get("ITEM_ANALYSIS_MIN_N") or 200
        thresholds = scoring.FlagThresholds(
            **{"distractor_margin": 0.05, **dict(config.get("ITEM_ANALYSIS_THRESHOLDS") or {})}
        )
        settings = cls(model=str(model).lower(), min_n=int(min_n), thresholds=thresholds)
        kept = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **kept) if kept else settings

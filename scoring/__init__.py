"""Scoring: how a response becomes points, points a result, marks a final mark; item analysis and IRT.

Pure functions over plain data and numpy/pandas: no database, no Flask (DESIGN.md §8).

The names below are imported from their modules on first use (PEP 562), not when the package is:
the exam server imports `scoring.results` and `scoring.grading` when it starts, and must not pay for
pandas and the item-analysis modules then (a restarted exam server must listen again within seconds).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.ctt import FlagThresholds, ItemAnalysis, cronbach_alpha, flag_items, item_analysis
    from scoring.grading import final_mark, grader_agreement, needs_adjudication, panel_score
    from scoring.irt import IRTConvergenceWarning, IRTModel, marginal_loglik
    from scoring.results import (
        LevelOutcome,
        PartOutcome,
        ResultChange,
        diff_results,
        level_outcome,
        part_passed,
        required_parts,
        theory_exemption,
    )
    from scoring.rules import (
        PASS_MARK,
        Rule,
        ScoringError,
        encode_responses,
        letters_to_mask,
        mask_to_letters,
        normalise_text,
        part_score,
        score_matrix,
        score_response,
        weighted_part_score,
    )

_MODULE_OF = {
    "FlagThresholds": "scoring.ctt",
    "ItemAnalysis": "scoring.ctt",
    "cronbach_alpha": "scoring.ctt",
    "flag_items": "scoring.ctt",
    "item_analysis": "scoring.ctt",
    "final_mark": "scoring.grading",
    "grader_agreement": "scoring.grading",
    "needs_adjudication": "scoring.grading",
    "panel_score": "scoring.grading",
    "IRTConvergenceWarning": "scoring.irt",
    "IRTModel": "scoring.irt",
    "marginal_loglik": "scoring.irt",
    "LevelOutcome": "scoring.results",
    "PartOutcome": "scoring.results",
    "ResultChange": "scoring.results",
    "diff_results": "scoring.results",
    "level_outcome": "scoring.results",
    "part_passed": "scoring.results",
    "required_parts": "scoring.results",
    "theory_exemption": "scoring.results",
    "PASS_MARK": "scoring.rules",
    "Rule": "scoring.rules",
    "ScoringError": "scoring.rules",
    "encode_responses": "scoring.rules",
    "letters_to_mask": "scoring.rules",
    "mask_to_letters": "scoring.rules",
    "normalise_text": "scoring.rules",
    "part_score": "scoring.rules",
    "score_matrix": "scoring.rules",
    "score_response": "scoring.rules",
    "weighted_part_score": "scoring.rules",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "PASS_MARK",
    "FlagThresholds",
    "IRTConvergenceWarning",
    "IRTModel",
    "ItemAnalysis",
    "LevelOutcome",
    "PartOutcome",
    "ResultChange",
    "Rule",
    "ScoringError",
    "cronbach_alpha",
    "diff_results",
    "encode_responses",
    "final_mark",
    "flag_items",
    "grader_agreement",
    "item_analysis",
    "letters_to_mask",
    "level_outcome",
    "marginal_loglik",
    "mask_to_letters",
    "needs_adjudication",
    "normalise_text",
    "panel_score",
    "part_passed",
    "part_score",
    "required_parts",
    "score_matrix",
    "score_response",
    "theory_exemption",
    "weighted_part_score",
]

"""Scoring: how a response becomes points, points a result, marks a final mark; item analysis and IRT.

Pure functions over plain data and numpy/pandas: no database, no Flask (DESIGN.md §8).
"""

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

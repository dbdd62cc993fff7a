"""Scoring: how a response becomes points, points a result, marks a final mark; item analysis and IRT.

Pure functions over plain data and numpy/pandas: no database, no Flask (DESIGN.md §8).

The names below are imported from their modules on first use (PEP 562), not when the package is:
the exam server imports `scoring.results` and `scoring.grading` when it starts, and must not pay for
pandas and the item-analysis modules then (a restarted exam server must listen again within seconds).
"""

from __future__ import annotations

import importlib
from typing import Any

# Each lazy name once, by module: `__getattr__` and `__all__` both read this table.
_LAZY: dict[str, tuple[str, ...]] = {
    "scoring.ctt": ("FlagThresholds", "ItemAnalysis", "cronbach_alpha", "flag_items", "item_analysis"),
    "scoring.grading": ("final_mark", "grader_agreement", "needs_adjudication", "panel_score"),
    "scoring.irt": ("IRTConvergenceWarning", "IRTModel", "marginal_loglik"),
    "scoring.results": (
        "LevelOutcome",
        "PartOutcome",
        "ResultChange",
        "diff_results",
        "level_outcome",
        "part_passed",
        "required_parts",
        "theory_exemption",
    ),
    "scoring.rules": (
        "PASS_MARK",
        "ItemScoring",
        "Method",
        "Rule",
        "ScoringError",
        "encode_responses",
        "letters_to_mask",
        "mask_to_letters",
        "normalise_text",
        "part_score",
        "score_blanks",
        "score_matrix",
        "score_options",
        "score_value",
        "weighted_part_score",
    ),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = sorted(_MODULE_OF)

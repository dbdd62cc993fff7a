"""What a blueprint says about people's grading, read from the `grading` sub-dict of its spec.

Every key is optional; a blueprint without a `grading` entry gets the defaults below:

    grading:
      tolerance: 3            # marks may differ by this many points (absolute) ...
      tolerance_share: 0.1    # ... or, without `tolerance`, by this share of the task's full marks
      final_rule: mean        # mean: mean of the two marks, the chief's mark when they disagree
                              # adjudicated: the chief grader's mark decides every task
      panel_rule: mean        # mean | trimmed_mean (without the highest and the lowest)
      defence_weights: {thesis: 40, defence: 60}   # levels 2-1: how thesis and defence make the part
      mark_step: 0.5          # marks are whole multiples of this
      section_weights: {single: 40, multiple: 30, judge: 30}   # optional: weight of each section
                              # (by item type) in the 100-point part score; without it, points add up
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from item_bank.kernel import DomainError

FINAL_RULES = ("mean", "adjudicated")
PANEL_RULES = ("mean", "trimmed_mean")
FINAL_RULE_LABELS = {"mean": "两评取平均，超差由组长仲裁定分", "adjudicated": "一律以组长仲裁分为准"}
PANEL_RULE_LABELS = {"mean": "评委平均分", "trimmed_mean": "去掉一个最高分和一个最低分后的平均分"}


class GradingRulesError(DomainError, ValueError):
    """A blueprint's grading settings that cannot be used; names the field."""

    default_code = "grading_rules_invalid"
    default_status = 400


class _BlueprintSpec(Protocol):
    spec: dict[str, Any]


class _Sitting(Protocol):
    blueprint: _BlueprintSpec


@dataclass(frozen=True)
class GradingRules:
    tolerance: float | None = None
    tolerance_share: float = 0.1
    final_rule: str = "mean"
    panel_rule: str = "mean"
    defence_weights: dict[str, float] = field(default_factory=lambda: {"thesis": 40.0, "defence": 60.0})
    mark_step: float = 0.5
    section_weights: dict[str, float] | None = None

    def tolerance_for(self, max_points: float) -> float:
        """The largest allowed difference between two marks on a task worth `max_points`."""
        if self.tolerance is not None:
            return self.tolerance
        return round(self.tolerance_share * max_points, 6)

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> GradingRules:
        """The rules of a stored blueprint spec (its `grading` entry, defaults for what is missing)."""
        raw = (spec or {}).get("grading") or {}
        if not isinstance(raw, dict):
            raise GradingRulesError("grading: 应为键值表")
        defaults = cls()

        def number(key: str, default: float | None) -> float | None:
            value = raw.get(key, default)
            if value is None:
                return None
            try:
                f = float(value)
            except (TypeError, ValueError):
                raise GradingRulesError(f"grading.{key}: 应为数字，实际为 {value!r}") from None
            if not math.isfinite(f) or f < 0:
                raise GradingRulesError(f"grading.{key}: 应为非负数，实际为 {value!r}")
            return f

        final_rule = str(raw.get("final_rule", defaults.final_rule))
        if final_rule not in FINAL_RULES:
            raise GradingRulesError(f"grading.final_rule: 应为 {' / '.join(FINAL_RULES)} 之一，实际为 {final_rule!r}")
        panel_rule = str(raw.get("panel_rule", defaults.panel_rule))
        if panel_rule not in PANEL_RULES:
            raise GradingRulesError(f"grading.panel_rule: 应为 {' / '.join(PANEL_RULES)} 之一，实际为 {panel_rule!r}")
        weights_raw = raw.get("defence_weights", defaults.defence_weights)
        if not isinstance(weights_raw, dict) or set(weights_raw) != {"thesis", "defence"}:
            raise GradingRulesError("grading.defence_weights: 应为 {thesis: 权重, defence: 权重}")
        weights = {k: float(v) for k, v in weights_raw.items()}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise GradingRulesError("grading.defence_weights: 权重必须非负且总和大于 0")
        step = number("mark_step", defaults.mark_step)
        if not step:
            raise GradingRulesError("grading.mark_step: 必须大于 0")
        share = number("tolerance_share", defaults.tolerance_share)
        section_weights = None
        sw = raw.get("section_weights")
        if sw is not None:
            if not isinstance(sw, dict) or not sw:
                raise GradingRulesError("grading.section_weights: 应为 {题型: 权重}")
            try:
                section_weights = {str(k): float(v) for k, v in sw.items()}
            except (TypeError, ValueError):
                raise GradingRulesError("grading.section_weights: 权重应为数字") from None
            if any(w < 0 for w in section_weights.values()) or sum(section_weights.values()) <= 0:
                raise GradingRulesError("grading.section_weights: 权重必须非负且总和大于 0")
        return cls(
            tolerance=number("tolerance", None),
            tolerance_share=defaults.tolerance_share if share is None else share,
            final_rule=final_rule,
            panel_rule=panel_rule,
            defence_weights=weights,
            mark_step=step,
            section_weights=section_weights,
        )


def rules_of(exam_session: _Sitting) -> GradingRules:
    """The grading and section-weight rules of a sitting's blueprint."""
    return GradingRules.from_spec(exam_session.blueprint.spec)

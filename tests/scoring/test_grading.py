"""Combining graders' marks: adjudication, final marks, defence panels, agreement per grader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.grading import final_mark, grader_agreement, needs_adjudication, panel_score


class TestAdjudication:
    def test_within_tolerance(self) -> None:
        assert needs_adjudication(7, 8, tolerance=2) is False
        assert needs_adjudication(8, 7, tolerance=2) is False

    def test_exactly_at_tolerance_is_within(self) -> None:
        assert needs_adjudication(6, 8, tolerance=2) is False
        # 8.3 - 6.3 is 2.0000000000000009 in binary; still exactly the tolerance.
        assert needs_adjudication(8.3, 6.3, tolerance=2) is False

    def test_beyond_tolerance(self) -> None:
        assert needs_adjudication(5.5, 8, tolerance=2) is True
        assert needs_adjudication(12, 4, tolerance=3) is True

    def test_zero_tolerance(self) -> None:
        assert needs_adjudication(5, 5, tolerance=0) is False
        assert needs_adjudication(5, 5.5, tolerance=0) is True

    def test_negative_tolerance_is_an_error(self) -> None:
        with pytest.raises(ValueError):
            needs_adjudication(1, 2, tolerance=-1)


class TestFinalMark:
    def test_mean_of_two(self) -> None:
        assert final_mark([7, 8]) == 7.5
        assert final_mark([7, 8], rule="mean") == 7.5

    def test_adjudicated(self) -> None:
        assert final_mark([4, 12], rule="adjudicated", adjudicated=9) == 9

    def test_adjudicated_rule_needs_the_mark(self) -> None:
        with pytest.raises(ValueError, match="needs the adjudicated mark"):
            final_mark([4, 12], rule="adjudicated")

    def test_mean_rule_takes_no_adjudicated_mark(self) -> None:
        with pytest.raises(ValueError):
            final_mark([4, 12], rule="mean", adjudicated=9)

    def test_unknown_rule(self) -> None:
        with pytest.raises(ValueError, match="unknown rule"):
            final_mark([1, 2], rule="max")  # type: ignore[arg-type]


class TestPanelScore:
    def test_three_members(self) -> None:
        assert panel_score([70, 80, 90]) == 80
        assert panel_score([70, 80, 90], rule="trimmed_mean") == 80
        assert panel_score([60, 61, 95], rule="mean") == pytest.approx(72)
        assert panel_score([60, 61, 95], rule="trimmed_mean") == 61

    def test_five_members(self) -> None:
        scores = [72, 85, 78, 90, 40]
        assert panel_score(scores) == pytest.approx(73)
        # Drop 90 and 40: (72 + 85 + 78) / 3.
        assert panel_score(scores, rule="trimmed_mean") == pytest.approx(235 / 3)

    def test_ties_drop_only_one_each(self) -> None:
        assert panel_score([80, 80, 80, 60, 60], rule="trimmed_mean") == pytest.approx((60 + 80 + 80) / 3)

    @pytest.mark.parametrize("size", [2, 6])
    def test_panel_size_outside_3_to_5(self, size: int) -> None:
        with pytest.raises(ValueError, match="3-5") as err:
            panel_score([70] * size)
        assert "答辩评委" in str(err.value)

    def test_unknown_rule(self) -> None:
        with pytest.raises(ValueError):
            panel_score([1, 2, 3], rule="median")  # type: ignore[arg-type]


class TestGraderAgreement:
    marks = pd.DataFrame(
        [
            # task, grader, mark: g1 and g2 share tasks t1-t4; g1 and g3 share t5-t6.
            ("t1", "g1", 8), ("t1", "g2", 8),
            ("t2", "g1", 6), ("t2", "g2", 7),
            ("t3", "g1", 9), ("t3", "g2", 6),
            ("t4", "g1", 5), ("t4", "g2", 5),
            ("t5", "g1", 4), ("t5", "g3", 6),
            ("t6", "g1", 7), ("t6", "g3", 7),
        ],
        columns=["task", "grader", "mark"],
    )  # fmt: skip

    def test_rates_and_counts_per_grader(self) -> None:
        out = grader_agreement(self.marks, tolerance=1)
        assert list(out.index) == ["g1", "g2", "g3"]
        assert out.loc["g1", "n"] == 6
        # g1 diffs: 0, -1, 3, 0, -2, 0 -> exact 3/6, adjacent (|d| <= 1) 4/6.
        assert out.loc["g1", "exact"] == pytest.approx(3 / 6)
        assert out.loc["g1", "adjacent"] == pytest.approx(4 / 6)
        assert out.loc["g1", "mean_diff"] == pytest.approx(0)
        # g2 diffs against g1: 0, 1, -3, 0.
        assert out.loc["g2", "n"] == 4
        assert out.loc["g2", "exact"] == pytest.approx(0.5)
        assert out.loc["g2", "adjacent"] == pytest.approx(0.75)
        assert out.loc["g2", "mean_diff"] == pytest.approx(-0.5)
        assert out.loc["g3", "exact"] == pytest.approx(0.5)

    def test_pearson_with_the_other_marker(self) -> None:
        out = grader_agreement(self.marks)
        g2_own, g2_other = [8, 7, 6, 5], [8, 6, 9, 5]
        assert out.loc["g2", "pearson_r"] == pytest.approx(np.corrcoef(g2_own, g2_other)[0, 1])
        # Hand computation: means 6.5 and 7; deviations (1.5, .5, -.5, -1.5) and (1, -1, 2, -2):
        # cov sum 1.5 - .5 - 1 + 3 = 3; ss 5 and 10 -> r = 3 / sqrt(50).
        assert out.loc["g2", "pearson_r"] == pytest.approx(3 / np.sqrt(50))

    def test_wider_tolerance(self) -> None:
        assert grader_agreement(self.marks, tolerance=2).loc["g1", "adjacent"] == pytest.approx(5 / 6)

    def test_pearson_undefined_for_constant_marks(self) -> None:
        marks = pd.DataFrame(
            {"task": ["a", "a", "b", "b"], "grader": ["x", "y", "x", "y"], "mark": [5, 5, 5, 6]}
        )
        assert np.isnan(grader_agreement(marks).loc["x", "pearson_r"])

    def test_requires_columns_and_unique_marks(self) -> None:
        with pytest.raises(ValueError, match="columns"):
            grader_agreement(pd.DataFrame({"task": [1], "mark": [1]}))
        dup = pd.DataFrame({"task": ["a", "a"], "grader": ["x", "x"], "mark": [1, 2]})
        with pytest.raises(ValueError, match="duplicate"):
            grader_agreement(dup)

"""Result rules: pass marks, level requirements, the level-5 theory exemption, rescore diffs."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import pytest

from scoring.results import (
    LevelOutcome,
    diff_results,
    level_outcome,
    part_passed,
    required_parts,
    theory_exemption,
    years_before,
)


class TestPartPassed:
    @pytest.mark.parametrize(
        ("score", "passed"), [(60, True), (60.0, True), (59.9, False), (100, True), (0, False)]
    )
    def test_sixty_or_more_passes(self, score: float, passed: bool) -> None:
        assert part_passed(score) is passed

    def test_custom_pass_mark(self) -> None:
        assert part_passed(70, pass_mark=72) is False

    @pytest.mark.parametrize("score", [-1, 100.1, float("nan")])
    def test_rejects_scores_off_the_scale(self, score: float) -> None:
        with pytest.raises(ValueError, match="0-100"):
            part_passed(score)


def test_required_parts_by_level() -> None:
    for level in (5, 4, 3):
        assert required_parts(level) == ("theory", "skill")
    for level in (2, 1):
        assert required_parts(level) == ("written", "defence")
    with pytest.raises(ValueError, match="1-5"):
        required_parts(6)


class TestTheoryExemption:
    exam = date(2025, 6, 15)

    def test_issued_exactly_three_years_before_is_not_exempt(self) -> None:
        assert theory_exemption(5, date(2022, 6, 15), self.exam) is False

    def test_issued_a_day_later_is_exempt(self) -> None:
        assert theory_exemption(5, date(2022, 6, 16), self.exam) is True

    def test_issued_a_day_earlier_is_not_exempt(self) -> None:
        assert theory_exemption(5, date(2022, 6, 14), self.exam) is False

    def test_issued_on_the_exam_day_is_exempt(self) -> None:
        assert theory_exemption(5, self.exam, self.exam) is True

    def test_only_level_5(self) -> None:
        for level in (4, 3, 2, 1):
            assert theory_exemption(level, date(2025, 1, 1), self.exam) is False

    def test_exam_on_29_february(self) -> None:
        # Three years before 2028-02-29 is 2025-02-28 (2025 has no 29 Feb).
        exam = date(2028, 2, 29)
        assert years_before(exam, 3) == date(2025, 2, 28)
        assert theory_exemption(5, date(2025, 2, 28), exam) is False
        assert theory_exemption(5, date(2025, 3, 1), exam) is True

    def test_certificate_issued_on_29_february(self) -> None:
        issued = date(2024, 2, 29)
        # 2027-02-28 is 1,095 days after issue, one short of three years (1,096 days with the leap day).
        assert theory_exemption(5, issued, date(2027, 2, 28)) is True
        assert theory_exemption(5, issued, date(2027, 3, 1)) is False

    def test_leap_day_inside_the_window(self) -> None:
        # Three years before 2027-03-01 is 2024-03-01; 2024-02-29 is before it.
        assert theory_exemption(5, date(2024, 2, 29), date(2027, 3, 1)) is False
        assert theory_exemption(5, date(2024, 3, 2), date(2027, 3, 1)) is True

    def test_certificate_after_exam_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="after the exam"):
            theory_exemption(5, date(2025, 7, 1), self.exam)


class TestLevelOutcome:
    def test_all_parts_passed(self) -> None:
        out = level_outcome(4, {"theory": 75, "skill": 60})
        assert isinstance(out, LevelOutcome)
        assert out.passed is True
        assert [(p.part, p.status, p.score) for p in out.parts] == [
            ("theory", "passed", 75),
            ("skill", "passed", 60),
        ]

    def test_one_failed_part_fails_the_level(self) -> None:
        out = level_outcome(3, {"theory": 59.5, "skill": 90})
        assert out.passed is False
        assert out.status("theory") == "failed"
        assert any("59.5" in r and "低于合格线" in r for r in out.reasons)

    def test_missing_part_leaves_the_outcome_open(self) -> None:
        out = level_outcome(5, {"theory": 80, "skill": None})
        assert out.passed is None
        assert out.status("skill") == "missing"
        assert level_outcome(5, {"theory": 80}).passed is None
        assert level_outcome(5, {"theory": 80, "skill": float("nan")}).status("skill") == "missing"

    def test_a_failure_decides_even_with_a_part_missing(self) -> None:
        assert level_outcome(5, {"theory": 40}).passed is False

    def test_exempt_theory_is_recorded_as_exempt_not_a_score(self) -> None:
        out = level_outcome(5, {"skill": 66}, exemptions={"theory"})
        assert out.passed is True
        theory = out.parts[0]
        assert (theory.part, theory.status, theory.score) == ("theory", "exempt", None)
        assert "理论知识免试" in out.reasons

    def test_exempt_part_with_a_score_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="exempt part has no score"):
            level_outcome(5, {"theory": 70, "skill": 66}, exemptions={"theory"})

    def test_exemption_only_where_allowed(self) -> None:
        with pytest.raises(ValueError, match="no exemption"):
            level_outcome(4, {"skill": 66}, exemptions={"theory"})
        with pytest.raises(ValueError, match="no exemption"):
            level_outcome(5, {"theory": 66}, exemptions={"skill"})

    def test_levels_2_and_1_need_written_and_defence(self) -> None:
        out = level_outcome(2, {"written": 61, "defence": 58})
        assert out.passed is False
        assert out.status("defence") == "failed"
        assert level_outcome(1, {"written": 61, "defence": 60}).passed is True

    def test_unknown_part_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="requires only"):
            level_outcome(5, {"theory": 61, "skill": 70, "written": 60})

    def test_outcome_is_frozen(self) -> None:
        out = level_outcome(5, {"theory": 61, "skill": 70})
        with pytest.raises(AttributeError):
            out.passed = False  # type: ignore[misc]


class TestDiffResults:
    old: ClassVar[dict[int, dict[str, float]]] = {
        101: {"q1": 1.0, "q2": 0.0, "q3": 1.0},
        102: {"q1": 0.0, "q2": 1.0, "q3": 1.0},
        103: {"q1": 1.0, "q2": 1.0, "q3": 0.0},
    }

    def test_key_correction_on_one_item(self) -> None:
        # q2's key was wrong: 101 answered the corrected key, 102 the old one, 103 unchanged.
        new = {
            101: {"q1": 1.0, "q2": 1.0, "q3": 1.0},
            102: {"q1": 0.0, "q2": 0.0, "q3": 1.0},
            103: {"q1": 1.0, "q2": 1.0, "q3": 0.0},
        }
        changes = diff_results(self.old, new)
        assert [c.attempt for c in changes] == [101, 102]
        first = changes[0]
        assert (first.old_total, first.new_total) == (2.0, 3.0)
        assert [(d.item, d.old, d.new, d.delta) for d in first.items] == [("q2", 0.0, 1.0, 1.0)]
        assert "第 q2 题 0 → 1 分" in first.reason

    def test_pass_status_flip_with_max_points(self) -> None:
        old = {"A-1": {"q1": 59.0, "q2": 0.0}, "A-2": {"q1": 70.0, "q2": 0.0}}
        new = {"A-1": {"q1": 59.0, "q2": 1.0}, "A-2": {"q1": 70.0, "q2": 1.0}}
        changes = diff_results(old, new, max_points=100)
        assert [(c.attempt, c.old_score, c.new_score, c.old_passed, c.new_passed) for c in changes] == [
            ("A-1", 59.0, 60.0, False, True),
            ("A-2", 70.0, 71.0, True, True),
        ]
        assert "由不合格改为合格" in changes[0].reason
        assert "合格改为" not in changes[1].reason

    def test_no_change_gives_an_empty_list(self) -> None:
        assert diff_results(self.old, {k: dict(v) for k, v in self.old.items()}) == []

    def test_item_missing_on_one_side_counts_as_zero(self) -> None:
        changes = diff_results({1: {"q1": 1.0, "q9": 1.0}}, {1: {"q1": 1.0}})
        assert [(d.item, d.old, d.new) for d in changes[0].items] == [("q9", 1.0, 0.0)]

    def test_attempt_sets_must_match(self) -> None:
        with pytest.raises(ValueError, match="attempts differ"):
            diff_results(self.old, {101: self.old[101]})

    def test_is_deterministic(self) -> None:
        new = {k: {i: 1.0 - p for i, p in v.items()} for k, v in self.old.items()}
        assert diff_results(self.old, new) == diff_results(dict(reversed(self.old.items())), new)

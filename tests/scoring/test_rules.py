"""Response scoring rules, worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from item_bank.types import score_response
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
    weighted_part_score,
)

E, A, P = int(Rule.EXACT), int(Rule.ALL_OR_NOTHING), int(Rule.PARTIAL)


def test_pass_mark_is_60() -> None:
    assert PASS_MARK == 60


@pytest.mark.parametrize(
    ("letters", "mask"),
    [("", 0), (None, 0), ("A", 0b1), ("B", 0b10), ("ACD", 0b1101), ("dca", 0b1101), ("E", 0b10000)],
)
def test_letters_and_masks_round_trip(letters: str | None, mask: int) -> None:
    assert letters_to_mask(letters) == mask
    assert mask_to_letters(mask) == "".join(sorted((letters or "").upper()))


def test_bad_letter_is_an_error() -> None:
    with pytest.raises(ScoringError, match="1"):
        letters_to_mask("A1")


def test_encode_responses_builds_the_mask_matrix() -> None:
    matrix = encode_responses([["A", "BD", None], ["", "ABCD", "B"]])
    assert matrix.dtype == np.uint32
    assert matrix.tolist() == [[1, 0b1010, 0], [0, 0b1111, 0b10]]


def test_encode_responses_rejects_ragged_rows() -> None:
    with pytest.raises(ScoringError):
        encode_responses([["A"], ["A", "B"]])


def test_rule_parse_accepts_names_codes_and_rules() -> None:
    assert Rule.parse("partial") is Rule.PARTIAL
    assert Rule.parse("ALL_OR_NOTHING") is Rule.ALL_OR_NOTHING
    assert Rule.parse(0) is Rule.EXACT
    assert Rule.parse(Rule.PARTIAL) is Rule.PARTIAL
    with pytest.raises(ValueError, match="unknown scoring rule"):
        Rule.parse("half")


class TestScoreMatrix:
    # Items: 0 single key B (2 pts), 1 judge key A (1 pt), 2 multiple ACD all-or-nothing (3 pts),
    # 3 multiple ACD partial credit (3 pts -> 1 point per keyed letter), 4 multiple AB partial (1 pt).
    keys = encode_responses([["B", "A", "ACD", "ACD", "AB"]])[0]
    points = np.array([2.0, 1.0, 3.0, 3.0, 1.0])
    rules = np.array([E, E, A, P, P])

    def score(self, *rows: list[str | None]) -> np.ndarray:
        return score_matrix(encode_responses(list(rows)), self.keys, self.points, self.rules)

    def test_all_correct_earns_full_points(self) -> None:
        assert self.score(["B", "A", "ACD", "ACD", "AB"]).tolist() == [[2, 1, 3, 3, 1]]

    def test_omitted_earns_nothing(self) -> None:
        assert self.score([None, None, None, None, None]).tolist() == [[0, 0, 0, 0, 0]]

    def test_wrong_single_and_judge(self) -> None:
        assert self.score(["C", "B", None, None, None]).tolist() == [[0, 0, 0, 0, 0]]

    def test_single_with_extra_letter_is_wrong(self) -> None:
        assert self.score(["AB", None, None, None, None])[0, 0] == 0

    def test_all_or_nothing_needs_exactly_the_key(self) -> None:
        got = self.score(
            [None, None, "AC", None, None],  # subset of the key
            [None, None, "ACDE", None, None],  # superset
            [None, None, "ACD", None, None],
        )
        assert got[:, 2].tolist() == [0, 0, 3]

    def test_partial_credit_per_keyed_letter(self) -> None:
        got = self.score(
            [None, None, None, "A", None],  # 1 of 3 keys: 3 * 1/3 = 1
            [None, None, None, "AD", None],  # 2 of 3: 2
            [None, None, None, "ACD", None],  # 3 of 3: 3
            [None, None, None, "ACDB", None],  # a wrong letter: 0
            [None, None, None, "B", None],  # only wrong: 0
            [None, None, None, None, "A"],  # 1 of 2 keys on a 1-point item: 0.5
        )
        assert got[:, 3].tolist() == pytest.approx([1, 2, 3, 0, 0, 0])
        assert got[5, 4] == pytest.approx(0.5)

    def test_rows_are_independent_and_output_is_float(self) -> None:
        got = self.score(["B", "A", "ACD", "AD", "B"], ["C", "A", "AC", "ACD", "AB"])
        assert got.dtype == np.float64
        # Row 1, item 4: "B" is one of the two keys AB, so half of its 1 point.
        np.testing.assert_allclose(got, [[2, 1, 3, 2, 0.5], [0, 1, 0, 3, 1]])
        assert got.sum(axis=1).tolist() == pytest.approx([8.5, 5])

    def test_rescoring_is_deterministic(self) -> None:
        rng = np.random.default_rng(3)
        chosen = rng.integers(0, 32, size=(200, 5)).astype(np.uint32)
        first = score_matrix(chosen, self.keys, self.points, self.rules)
        second = score_matrix(chosen.copy(), self.keys.copy(), self.points.copy(), list(self.rules))
        assert np.array_equal(first, second)

    def test_matches_the_scalar_rule_cell_by_cell(self) -> None:
        rng = np.random.default_rng(5)
        chosen = rng.integers(0, 32, size=(300, 5)).astype(np.uint32)
        got = score_matrix(chosen, self.keys, self.points, self.rules)
        kinds = ["single", "judge", "multiple", "multiple", "multiple"]
        for i in range(chosen.shape[0]):
            for j, kind in enumerate(kinds):
                want = score_response(
                    kind,
                    mask_to_letters(self.keys[j]),
                    mask_to_letters(chosen[i, j]),
                    self.points[j],
                    self.rules[j],
                )
                assert got[i, j] == pytest.approx(want)

    def test_accepts_int64_masks(self) -> None:
        chosen = encode_responses([["B", "A", "ACD", "AD", "A"]]).astype(np.int64)
        assert score_matrix(chosen, self.keys.astype(np.int64), self.points, self.rules).tolist() == [
            [2, 1, 3, 2, 0.5]
        ]

    def test_validates_shapes_keys_and_rule_codes(self) -> None:
        chosen = encode_responses([["B", "A", "ACD", "AD", "A"]])
        with pytest.raises(ScoringError, match="one per item"):
            score_matrix(chosen, self.keys[:4], self.points, self.rules)
        with pytest.raises(ScoringError, match="empty key"):
            score_matrix(chosen, np.array([2, 0, 13, 13, 3]), self.points, self.rules)
        with pytest.raises(ScoringError, match="unknown rule"):
            score_matrix(chosen, self.keys, self.points, [0, 0, 0, 0, 7])
        with pytest.raises(ScoringError, match="integer"):
            score_matrix(chosen.astype(float), self.keys, self.points, self.rules)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ＡＢＣ１２３", "abc123"),  # full-width letters and digits become half-width
        ("  保 安\u3000员 \n", "保安员"),  # every kind of whitespace goes, ideographic space included
        ("Straße", "strasse"),  # casefold, not lower
        ("（１）", "(1)"),
        (None, ""),
    ],
)
def test_normalise_text(raw: str | None, normalised: str) -> None:
    assert normalise_text(raw) == normalised


class TestPartScore:
    def test_scales_to_100(self) -> None:
        assert part_score(45, 50) == 90.0
        assert part_score(0, 80) == 0.0
        assert part_score(80, 80) == 100.0

    def test_rounds_half_up_to_one_decimal(self) -> None:
        # 72.45 of 100 is exactly halfway: half-up gives 72.5 (binary floats would give 72.4).
        assert part_score(72.45, 100) == 72.5
        assert part_score(1, 3) == 33.3  # 33.333...
        assert part_score(2, 3) == 66.7  # 66.666...
        assert part_score(0.125, 0.2) == 62.5
        assert part_score(119, 200) == 59.5
        assert part_score(59.95, 100) == 60.0

    def test_rejects_bad_ranges(self) -> None:
        with pytest.raises(ScoringError):
            part_score(5, 0)
        with pytest.raises(ScoringError):
            part_score(101, 100)
        with pytest.raises(ScoringError):
            part_score(-1, 100)


class TestWeightedPartScore:
    def test_weights_sections(self) -> None:
        # Single 40/50 = 0.8, judge 18/20 = 0.9, multiple 15/30 = 0.5; weights 50/20/30:
        # 100 * (0.5*0.8 + 0.2*0.9 + 0.3*0.5) = 40 + 18 + 15 = 73.
        earned = {"single": 40, "judge": 18, "multiple": 15}
        maximum = {"single": 50, "judge": 20, "multiple": 30}
        assert weighted_part_score(earned, maximum, {"single": 0.5, "judge": 0.2, "multiple": 0.3}) == 73.0
        # Weights need not sum to 1: 5:2:3 is the same.
        assert weighted_part_score(earned, maximum, {"single": 5, "judge": 2, "multiple": 3}) == 73.0

    def test_rounds_half_up(self) -> None:
        # 100 * (1/2 * 0.9 + 1/2 * 0.549) = 72.45 -> 72.5
        assert weighted_part_score({"a": 9, "b": 54.9}, {"a": 10, "b": 100}, {"a": 1, "b": 1}) == 72.5

    def test_rejects_mismatched_sections(self) -> None:
        with pytest.raises(ScoringError, match="section names differ"):
            weighted_part_score({"a": 1}, {"a": 2, "b": 2}, {"a": 1, "b": 1})
        with pytest.raises(ScoringError):
            weighted_part_score({"a": 1}, {"a": 2}, {"a": 0})

"""Classical item analysis against small matrices worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.ctt import (
    FlagThresholds,
    cronbach_alpha,
    distractor_analysis,
    flag_items,
    form_statistics,
    item_analysis,
    item_statistics,
    score_histogram,
    upper_lower_groups,
)

# A Guttman pattern: five persons, four items of falling p. Hand computation:
# p = .8 .6 .4 .2; item variances (n-1) = .2 .3 .3 .2, sum 1.0; totals 4 3 2 1 0, variance 2.5;
# alpha = KR-20 = 4/3 * (1 - 1.0/2.5) = 0.8; SEM = sqrt(2.5) * sqrt(0.2) = sqrt(0.5).
GUTTMAN = np.array(
    [
        [1, 1, 1, 1],
        [1, 1, 1, 0],
        [1, 1, 0, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
    ],
    dtype=float,
)

# Polytomous textbook case (three items scored 0-4, four persons). Item variances 5/3, 2.75/3, 5/3
# sum 4.25; totals 8 5 10 2 have variance 12.25; alpha = 3/2 * (1 - 4.25/12.25) = 48/49.
RATINGS = np.array([[2, 3, 3], [1, 2, 2], [3, 3, 4], [0, 1, 1]], dtype=float)


class TestReliability:
    def test_kr20_on_the_guttman_matrix(self) -> None:
        assert cronbach_alpha(GUTTMAN) == pytest.approx(0.8)

    def test_alpha_on_ratings(self) -> None:
        assert cronbach_alpha(RATINGS) == pytest.approx(48 / 49)

    def test_form_statistics(self) -> None:
        stats = form_statistics(GUTTMAN)
        assert stats["n_persons"] == 5 and stats["n_items"] == 4
        assert stats["mean"] == pytest.approx(2.0)
        assert stats["sd"] == pytest.approx(np.sqrt(2.5))
        assert stats["alpha"] == pytest.approx(0.8)
        assert stats["sem"] == pytest.approx(np.sqrt(0.5))
        assert (stats["min"], stats["q1"], stats["median"], stats["q3"], stats["max"]) == (0, 1, 2, 3, 4)

    def test_alpha_undefined_without_variance(self) -> None:
        assert np.isnan(cronbach_alpha(np.ones((4, 3))))
        assert np.isnan(cronbach_alpha(np.ones((4, 1))))

    def test_alpha_uses_persons_with_every_item(self) -> None:
        with_gap = np.vstack([GUTTMAN, [1, np.nan, 0, 1]])
        assert cronbach_alpha(with_gap) == pytest.approx(0.8)


class TestItemStatistics:
    def test_p_and_corrected_r_by_hand(self) -> None:
        stats = item_statistics(GUTTMAN)
        assert stats["p"].tolist() == pytest.approx([0.8, 0.6, 0.4, 0.2])
        # Item 1 against the rest (3 2 1 0 0): Σdxdy = 1.2, Σdx² = 0.8, Σdy² = 6.8.
        assert stats["r_corrected"].iloc[0] == pytest.approx(1.2 / np.sqrt(0.8 * 6.8))
        assert stats["n"].tolist() == [5, 5, 5, 5]
        assert stats["omit_rate"].isna().all()

    def test_partial_scores_use_max_points(self) -> None:
        stats = item_statistics(RATINGS, max_points=4)
        assert stats["p"].tolist() == pytest.approx([1.5 / 4, 2.25 / 4, 2.5 / 4])
        # Without stated maxima the best observed score stands in.
        assert item_statistics(RATINGS)["max_points"].tolist() == [3, 3, 4]

    def test_corrected_r_matches_a_brute_force_with_items_not_presented(self) -> None:
        rng = np.random.default_rng(11)
        theta = rng.normal(size=400)
        x = (rng.random((400, 6)) < 1 / (1 + np.exp(-(theta[:, None] - np.linspace(-1, 1, 6))))).astype(float)
        x[rng.random(x.shape) < 0.15] = np.nan
        stats = item_statistics(pd.DataFrame(x, columns=[f"Q{i}" for i in range(6)]))
        assert list(stats.index) == [f"Q{i}" for i in range(6)]
        total = np.nansum(x, axis=1)
        for j in range(6):
            seen = ~np.isnan(x[:, j])
            want = np.corrcoef(x[seen, j], total[seen] - x[seen, j])[0, 1]
            assert stats["r_corrected"].iloc[j] == pytest.approx(want)
            assert stats["n"].iloc[j] == seen.sum()
            assert stats["p"].iloc[j] == pytest.approx(np.nanmean(x[:, j]))

    def test_constant_item_has_no_correlation(self) -> None:
        x = GUTTMAN.copy()
        x[:, 0] = 1
        assert np.isnan(item_statistics(x)["r_corrected"].iloc[0])


class TestDistractors:
    # Ten persons. Item "essay" (0-27 points, no options) spreads the totals so the 27% groups are
    # persons 0-2 (upper) and 7-9 (lower). Item "q1" key A: person 2 chose C, person 9 omitted.
    # Item "q2" is miskeyed: key B, but the whole upper group chose C.
    chosen = pd.DataFrame(
        {
            "q1": ["A", "A", "C", "A", "A", "B", "A", "B", "B", None],
            "q2": ["C", "C", "C", "B", "C", "B", "B", "A", "B", "A"],
            "essay": [None] * 10,
        }
    )
    keys = ("A", "B", None)

    @property
    def scores(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "q1": (self.chosen["q1"] == "A").astype(float),
                "q2": (self.chosen["q2"] == "B").astype(float),
                "essay": 3.0 * (9 - np.arange(10)),
            }
        )

    def test_groups(self) -> None:
        upper, lower = upper_lower_groups(self.scores.sum(axis=1).to_numpy())
        assert np.flatnonzero(upper).tolist() == [0, 1, 2]
        assert np.flatnonzero(lower).tolist() == [7, 8, 9]

    def test_shares_by_hand(self) -> None:
        d = distractor_analysis(self.scores, self.chosen, self.keys).set_index(["item", "option"])
        assert d.loc[("q1", "A"), ["share", "share_upper", "share_lower"]].tolist() == pytest.approx(
            [0.5, 2 / 3, 0]
        )
        assert d.loc[("q1", "B"), ["share", "share_upper", "share_lower"]].tolist() == pytest.approx(
            [0.3, 0, 2 / 3]
        )
        assert d.loc[("q1", "C"), ["share", "share_upper", "share_lower"]].tolist() == pytest.approx(
            [0.1, 1 / 3, 0]
        )
        assert d.loc[("q2", "C"), ["share", "share_upper", "share_lower"]].tolist() == pytest.approx(
            [0.4, 1, 0]
        )
        assert bool(d.loc[("q1", "A"), "is_key"]) and not bool(d.loc[("q1", "C"), "is_key"])
        assert "essay" not in d.index.get_level_values("item")

    def test_flags_upper_distractor_and_miskey(self) -> None:
        d = distractor_analysis(self.scores, self.chosen, self.keys).set_index(["item", "option"])
        assert d["upper_distractor"][d["upper_distractor"]].index.tolist() == [("q1", "C"), ("q2", "C")]
        assert d["miskey"][d["miskey"]].index.tolist() == [("q2", "C")]

    def test_multiple_response_counts_each_letter(self) -> None:
        chosen = pd.DataFrame({"m": ["AB", "AC", "ABC", "B"]})
        scores = pd.DataFrame({"m": [1.0, 0.0, 0.0, 0.0]})
        d = distractor_analysis(scores, chosen, ["AB"]).set_index("option")
        assert d["share"].tolist() == pytest.approx([0.75, 0.75, 0.5])
        assert d["is_key"].tolist() == [True, True, False]

    def test_masks_work_like_letters(self) -> None:
        masks = self.chosen[["q1", "q2"]].map(lambda v: {"A": 1, "B": 2, "C": 4}.get(v, 0)).astype(np.int64)
        by_mask = distractor_analysis(self.scores[["q1", "q2"]], masks, [1, 2])
        by_letter = distractor_analysis(self.scores[["q1", "q2"]], self.chosen[["q1", "q2"]], ["A", "B"])
        pd.testing.assert_frame_equal(by_mask, by_letter)

    def test_full_analysis_and_flags(self) -> None:
        result = item_analysis(self.scores, self.chosen, self.keys, max_points=[1, 1, 27])
        assert result.items["omit_rate"].tolist()[:2] == pytest.approx([0.1, 0.0])
        assert result.items["p"].tolist() == pytest.approx([0.5, 0.4, 0.5])
        flags = result.flags
        assert ("q2", "miskey") in set(zip(flags["item"], flags["code"], strict=True))
        reason = flags[(flags["item"] == "q2") & (flags["code"] == "miskey")]["reason"].iloc[0]
        assert "疑似答案错误" in reason and "C" in reason and "B" in reason
        assert result.histogram["count"].sum() == 10
        assert result.form["n_items"] == 3


class TestFlags:
    items = pd.DataFrame(
        {"p": [0.1, 0.5, 0.97, 0.6], "r_corrected": [0.3, 0.1, 0.4, np.nan]},
        index=["easy?", "weak", "easy", "flat"],
    )

    def test_default_thresholds(self) -> None:
        flags = flag_items(self.items)
        assert list(zip(flags["item"], flags["code"], strict=True)) == [
            ("easy?", "p_low"),
            ("weak", "r_low"),
            ("easy", "p_high"),
            ("flat", "r_low"),
        ]
        assert flags["reason"].str.len().gt(0).all()
        assert "区分度不足" in flags["reason"].iloc[1]

    def test_custom_thresholds(self) -> None:
        flags = flag_items(self.items, thresholds=FlagThresholds(p_min=0.05, p_max=0.99, r_min=0.05))
        assert list(flags["code"]) == ["r_low"]

    def test_dataclass_defaults(self) -> None:
        t = FlagThresholds()
        assert (t.p_min, t.p_max, t.r_min, t.upper_distractor, t.miskey) == (0.2, 0.95, 0.15, True, True)


def test_histogram_counts() -> None:
    hist = score_histogram(np.array([0, 1, 1, 2, 4]), bins=[0, 1, 2, 3, 4, 5])
    assert hist["count"].tolist() == [1, 2, 1, 0, 1]
    assert hist["bin_left"].tolist() == [0, 1, 2, 3, 4]

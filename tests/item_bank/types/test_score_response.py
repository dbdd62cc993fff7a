"""Scoring one response by its item type's name: the scalar rules the types name, worked by hand."""

from __future__ import annotations

import pytest

from item_bank.types import score_response
from scoring.rules import ScoringError


class TestScoreResponse:
    def test_single_and_judge(self) -> None:
        assert score_response("single", "B", "B", 1.0) == 1.0
        assert score_response("single", "B", "C", 1.0) == 0.0
        assert score_response("single", "B", None, 1.0) == 0.0
        assert score_response("judge", "A", "A", 0.5) == 0.5
        assert score_response("judge", "A", "B", 0.5) == 0.0

    def test_multiple_all_or_nothing(self) -> None:
        assert score_response("multiple", "ABD", "ABD", 2, "all_or_nothing") == 2
        assert score_response("multiple", "ABD", "AB", 2, "all_or_nothing") == 0
        # The item types pass "exact" by default; for a multiple item that is all-or-nothing.
        assert score_response("multiple", "ABD", "ABD", 2, "exact") == 2
        assert score_response("multiple", "ABD", "AB", 2, "exact") == 0

    def test_multiple_partial(self) -> None:
        assert score_response("multiple", "ABCD", "AB", 2, "partial") == pytest.approx(1.0)
        assert score_response("multiple", "ABCD", "ABC", 2, "partial") == pytest.approx(1.5)
        assert score_response("multiple", "ABCD", "ABE", 2, "partial") == 0
        assert score_response("multiple", "ABCD", "", 2, "partial") == 0

    def test_fill_in_each_blank_earns_its_share(self) -> None:
        key = [["110"], ["灭火器", "手提式灭火器"], {"answers": ["CPR"], "synonyms": ["心肺复苏"]}]
        assert score_response("fill", key, ["110", "灭火器", "CPR"], 3) == pytest.approx(3)
        assert score_response("fill", key, ["119", "手提式灭火器", "心肺复苏"], 3) == pytest.approx(2)
        assert score_response("fill", key, ["110", None], 3) == pytest.approx(1)
        assert score_response("fill", key, None, 3) == 0
        # Full-width digits, inner spaces and case do not matter.
        assert score_response("fill", key, ["１１０", "灭 火 器", "cpr"], 3) == pytest.approx(3)

    def test_fill_in_blank_as_plain_string(self) -> None:
        assert score_response("fill", ["北京", "上海"], ["北京", "广州"], 1) == pytest.approx(0.5)

    def test_fill_in_order_matters(self) -> None:
        assert score_response("fill", [["甲"], ["乙"]], ["乙", "甲"], 2) == 0

    def test_unscorable_types_and_bad_keys(self) -> None:
        with pytest.raises(ScoringError, match="graded by people"):
            score_response("essay", None, "text", 10)
        with pytest.raises(ScoringError, match="empty key"):
            score_response("single", "", "A", 1)
        with pytest.raises(ScoringError, match="list of blanks"):
            score_response("fill", "北京", ["北京"], 1)

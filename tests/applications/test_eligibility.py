"""Each eligibility rule, the level-5 theory exemption's boundary, and the rules as data."""

from __future__ import annotations

import datetime as dt

import pytest

from exam_server.applications import eligibility as el
from exam_server.applications.levels import LevelError, parse_level

EXAM = dt.date(2026, 6, 1)


def facts(level: int = 5, **over: object) -> el.Facts:
    base = {"level": level, "guard_cert_no": "GD0001", "guard_cert_date": dt.date(2020, 1, 1), "exam_date": EXAM}
    base.update(over)
    return el.Facts(**base)  # type: ignore[arg-type]


def decide(level: int, f: el.Facts) -> dict[str, dict]:
    return {d.rule: d.as_dict() for d in el.evaluate(el.default_config(level), f)}


def test_guard_certificate_held() -> None:
    held = decide(5, facts())["guard_certificate"]
    assert held["outcome"] == el.PASS and "GD0001" in held["words"]
    assert held["facts"] == {"保安员证编号": "GD0001", "保安员证发证日期": "2020-01-01"}
    missing = decide(5, facts(guard_cert_no=" "))["guard_certificate"]
    assert missing["outcome"] == el.FAIL and "须持有保安员证" in missing["words"]
    later = decide(5, facts(guard_cert_date=dt.date(2026, 7, 1)))["guard_certificate"]
    assert later["outcome"] == el.FAIL and "晚于考试日期" in later["words"]


@pytest.mark.parametrize(("issued", "exempt"), [
    (dt.date(2023, 6, 2), True),    # 2 years 364 days before the sitting: exempt
    (dt.date(2023, 6, 1), False),   # exactly 3 years: not exempt
    (dt.date(2023, 5, 31), False),  # 3 years and a day
    (dt.date(2026, 6, 1), True),    # issued on the day
])
def test_level5_theory_exemption_boundary(issued: dt.date, exempt: bool) -> None:
    decision = decide(5, facts(guard_cert_date=issued))["theory_exemption"]
    assert decision["outcome"] == (el.EXEMPT if exempt else el.NOT_EXEMPT)
    assert decision["facts"]["保安员证发证日期"] == issued.isoformat()
    assert decision["facts"]["考试日期"] == EXAM.isoformat()
    assert ("免考理论知识" if exempt else "须参加理论知识考试") in decision["words"]
    assert el.theory_exempt(list(decide(5, facts(guard_cert_date=issued)).values())) is exempt


def test_exemption_of_a_certificate_issued_on_29_february() -> None:
    # 3 years after 2020-02-29 is 2023-02-28 (the month's last day): the 28th is no longer exempt, the 27th is.
    rule = el.RULES["theory_exemption"]
    assert rule.decide({"years": 3}, facts(guard_cert_date=dt.date(2020, 2, 29), exam_date=dt.date(2023, 2, 27))).outcome == el.EXEMPT
    assert rule.decide({"years": 3}, facts(guard_cert_date=dt.date(2020, 2, 29), exam_date=dt.date(2023, 2, 28))).outcome == el.NOT_EXEMPT


def test_only_level_5_has_the_exemption_by_default() -> None:
    assert "theory_exemption" not in decide(4, facts(level=4, guard_cert_date=dt.date(2026, 1, 1)))


@pytest.mark.parametrize(("level", "lower", "years"), [(4, 5, 4), (3, 4, 5), (2, 3, 4), (1, 2, 4)])
def test_prerequisites_of_levels_4_to_1_as_a_table(level: int, lower: int, years: int) -> None:
    ok = decide(level, facts(level=level, prior_cert_level=lower, prior_cert_no="Z1", years_in_trade=float(years)))
    assert ok["prerequisite"]["outcome"] == el.PASS
    assert ok["prerequisite"]["params"] == {"lower_level": lower, "years": years}
    short = decide(level, facts(level=level, prior_cert_level=lower, prior_cert_no="Z1", years_in_trade=years - 1.0))
    assert short["prerequisite"]["outcome"] == el.FAIL and f"满 {years} 年" in short["prerequisite"]["words"]
    no_cert = decide(level, facts(level=level, years_in_trade=30.0))
    assert no_cert["prerequisite"]["outcome"] == el.FAIL and "须先取得" in no_cert["prerequisite"]["words"]


def test_years_in_trade_default_to_whole_years_since_the_guard_certificate() -> None:
    # 2022-06-02 → 2026-06-01 is 3 whole years (not 4): refused; 2022-06-01 → 4 years: accepted.
    short = decide(4, facts(level=4, prior_cert_level=5, prior_cert_no="Z", guard_cert_date=dt.date(2022, 6, 2)))
    assert short["prerequisite"]["outcome"] == el.FAIL and short["prerequisite"]["facts"]["从业年限"] == 3.0
    enough = decide(4, facts(level=4, prior_cert_level=5, prior_cert_no="Z", guard_cert_date=dt.date(2022, 6, 1)))
    assert enough["prerequisite"]["outcome"] == el.PASS


def test_rules_are_data_checked_before_they_are_saved() -> None:
    config = el.validate_config('{"rules": [{"rule": "guard_certificate"}, {"rule": "theory_exemption", "years": 2}]}', 5)
    assert config["rules"][1] == {"rule": "theory_exemption", "years": 2}
    assert [r["label"] for r in el.describe(config)] == ["持有保安员证", "理论知识免试"]
    assert decide(5, facts())["theory_exemption"]["params"] == {"years": 3}
    # A level's own configuration changes the decision: 2 years instead of 3.
    two = {d.rule: d for d in el.evaluate(config, facts(guard_cert_date=dt.date(2023, 12, 1)))}
    assert two["theory_exemption"].outcome == el.NOT_EXEMPT
    for bad, why in [("{", "不是有效的 JSON"), ('{"rules": [{"rule": "nope"}]}', "rule 应为"),
                     ('{"rules": [{"rule": "prerequisite", "lower_level": 3, "years": 4}]}', "应低于本等级"),
                     ('{"rules": [{"rule": "theory_exemption", "years": "3"}]}', "整数"),
                     ('{"rules": [{"rule": "guard_certificate"}, {"rule": "guard_certificate"}]}', "两次")]:
        with pytest.raises(el.RuleConfigError, match=why):
            el.validate_config(bad, 4)


@pytest.mark.parametrize(("text", "level"), [
    ("初级保安员", 5), ("初级", 5), ("五级", 5), ("5", 5), (5, 5), (5.0, 5), ("中级保安员", 4), ("四级", 4),
    ("高级", 3), ("三级", 3), ("保安师", 2), ("二级", 2), ("高级保安师", 1), ("一级", 1), ("1", 1)])
def test_level_names(text: object, level: int) -> None:
    assert parse_level(text) == level


@pytest.mark.parametrize("text", ["六级", "", "初", "0", "中级保安"])
def test_unknown_level_names_are_refused(text: str) -> None:
    with pytest.raises(LevelError, match="无法识别"):
        parse_level(text)

"""Eligibility as named rules, configured per level as data (staff read and edit it on /province/eligibility).

A level's configuration is a JSON object ``{"rules": [{"rule": NAME, ...params}, ...]}``; `DEFAULT_RULES` is what a
level has until someone saves another. Each rule is a small class in `RULES` that knows its Chinese name, checks
its parameters, and decides one application from its facts. A decision records the rule, its parameters, the facts
it used, the outcome and the sentence the candidate and the unit read:

    decisions = evaluate(config, facts)       # facts: Facts(level, guard_cert_no, guard_cert_date, ...)
    refusals(decisions)                       # the "fail" ones; an application with any is refused
    theory_exempt(decisions)                  # the level-5 theory exemption, recorded, never a faked score

Outcomes: "pass" / "fail" for a condition, "exempt" / "not_exempt" for an exemption.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from exam_server.applications.levels import LEVELS, NUMERAL_NAMES, level_name
from item_bank.kernel import DomainError

PASS, FAIL, EXEMPT, NOT_EXEMPT = "pass", "fail", "exempt", "not_exempt"


class RuleConfigError(DomainError):
    default_code = "bad_eligibility_rules"
    default_status = 400


@dataclass(frozen=True)
class Facts:
    """What an application says about the person, and the date it is judged on."""

    level: int
    guard_cert_no: str
    guard_cert_date: dt.date | None
    #: The date of the sitting (the window's planned exam date until the person is scheduled).
    exam_date: dt.date
    prior_cert_level: int | None = None
    prior_cert_no: str = ""
    prior_cert_date: dt.date | None = None
    years_in_trade: float | None = None


@dataclass(frozen=True)
class Decision:
    rule: str
    label: str
    outcome: str
    words: str
    params: dict[str, Any]
    facts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` later; 29 February becomes 28 February in a common year (民法典 第二百零三条
    counts a period by years to the corresponding day, or the month's last day where there is none)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def whole_years(start: dt.date, end: dt.date) -> int:
    """Completed years from `start` to `end`."""
    years = end.year - start.year
    return years - 1 if add_years(start, years) > end else years


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


class Rule:
    name: ClassVar[str]
    label: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def check_params(self, params: dict[str, Any], level: int) -> None:
        """RuleConfigError if a parameter is missing or makes no sense."""

    def describe(self, params: dict[str, Any]) -> str:
        """The rule in one Chinese sentence, as the configuration screen shows it."""
        raise NotImplementedError

    def decide(self, params: dict[str, Any], facts: Facts) -> Decision | None:
        raise NotImplementedError

    def _decision(self, outcome: str, words: str, params: dict[str, Any], facts: dict[str, Any]) -> Decision:
        return Decision(self.name, self.label, outcome, words, dict(params), facts)


def _int_param(params: dict[str, Any], key: str, rule: str, low: int, high: int) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RuleConfigError(f"规则 {rule} 的参数 {key} 应为 {low}–{high} 的整数（现为 {value!r}）")
    return value


class GuardCertificate(Rule):
    name = "guard_certificate"
    label = "持有保安员证"

    def describe(self, params: dict[str, Any]) -> str:
        return "须持有公安机关核发的保安员证（填写证书编号和发证日期）。"

    def decide(self, params: dict[str, Any], facts: Facts) -> Decision:
        used = {"保安员证编号": facts.guard_cert_no, "保安员证发证日期": _iso(facts.guard_cert_date)}
        if not facts.guard_cert_no.strip() or facts.guard_cert_date is None:
            return self._decision(FAIL, "未填写保安员证编号或发证日期，不符合申报条件（须持有保安员证）。", params, used)
        if facts.guard_cert_date > facts.exam_date:
            return self._decision(
                FAIL, f"保安员证发证日期 {facts.guard_cert_date} 晚于考试日期 {facts.exam_date}，不符合申报条件。",
                params, used)
        return self._decision(
            PASS, f"持有保安员证 {facts.guard_cert_no}（{facts.guard_cert_date} 发证），符合条件。", params, used)


class Prerequisite(Rule):
    """The lower level's certificate and years in the trade (the table of levels 4-1)."""

    name = "prerequisite"
    label = "前置等级证书和从业年限"

    def check_params(self, params: dict[str, Any], level: int) -> None:
        lower = _int_param(params, "lower_level", self.name, 1, 5)
        if lower <= level:
            raise RuleConfigError(f"规则 {self.name}：{level_name(level)} 的前置等级 lower_level 应低于本等级（数字更大）")
        _int_param(params, "years", self.name, 0, 50)

    def describe(self, params: dict[str, Any]) -> str:
        return (f"须取得{level_name(params['lower_level'])}证书，且从事本职业工作满 {params['years']} 年。")

    def decide(self, params: dict[str, Any], facts: Facts) -> Decision:
        lower, years = params["lower_level"], params["years"]
        held_years = facts.years_in_trade
        if held_years is None and facts.guard_cert_date is not None:
            # Without a stated figure, the years since the 保安员证 was issued are the years in the trade.
            held_years = float(whole_years(facts.guard_cert_date, facts.exam_date))
        used = {"原等级证书等级": facts.prior_cert_level, "原等级证书编号": facts.prior_cert_no,
                "原等级证书发证日期": _iso(facts.prior_cert_date), "从业年限": held_years}
        has_cert = bool(facts.prior_cert_no.strip()) and facts.prior_cert_level is not None \
            and facts.prior_cert_level <= lower
        if not has_cert:
            return self._decision(
                FAIL, f"申报{level_name(facts.level)}须先取得{level_name(lower)}证书，未提供该证书。", params, used)
        if held_years is None or held_years < years:
            shown = "未知" if held_years is None else f"{held_years:g} 年"
            return self._decision(
                FAIL, f"申报{level_name(facts.level)}须从事本职业工作满 {years} 年，现为 {shown}。", params, used)
        return self._decision(
            PASS, f"持有{NUMERAL_NAMES[lower]}证书 {facts.prior_cert_no}，从业 {held_years:g} 年（要求 {years} 年），符合条件。",
            params, used)


class TheoryExemption(Rule):
    """Level 5: a 保安员证 issued less than `years` years before the sitting exempts from the theory part."""

    name = "theory_exemption"
    label = "理论知识免试"
    defaults: ClassVar[dict[str, Any]] = {"years": 3}

    def check_params(self, params: dict[str, Any], level: int) -> None:
        _int_param(params, "years", self.name, 1, 50)

    def describe(self, params: dict[str, Any]) -> str:
        return f"保安员证发证日期距考试日期不足 {params['years']} 年的，免考理论知识。"

    def decide(self, params: dict[str, Any], facts: Facts) -> Decision | None:
        if facts.guard_cert_date is None:
            return None
        years = params["years"]
        until = add_years(facts.guard_cert_date, years)
        used = {"保安员证发证日期": _iso(facts.guard_cert_date), "考试日期": _iso(facts.exam_date),
                "满期日期": _iso(until)}
        if facts.exam_date < until:
            return self._decision(
                EXEMPT, f"保安员证 {facts.guard_cert_date} 发证，至考试日期 {facts.exam_date} 不足 {years} 年，"
                        f"免考理论知识（只考操作技能）。", params, used)
        return self._decision(
            NOT_EXEMPT, f"保安员证 {facts.guard_cert_date} 发证，至考试日期 {facts.exam_date} 已满 {years} 年，"
                        f"须参加理论知识考试。", params, used)


RULES: dict[str, Rule] = {rule.name: rule for rule in (GuardCertificate(), Prerequisite(), TheoryExemption())}

#: The configuration of each level until staff save another (national standard for 保安员, 2019 edition).
DEFAULT_RULES: dict[int, dict[str, Any]] = {
    5: {"rules": [{"rule": "guard_certificate"}, {"rule": "theory_exemption", "years": 3}]},
    4: {"rules": [{"rule": "guard_certificate"}, {"rule": "prerequisite", "lower_level": 5, "years": 4}]},
    3: {"rules": [{"rule": "guard_certificate"}, {"rule": "prerequisite", "lower_level": 4, "years": 5}]},
    2: {"rules": [{"rule": "guard_certificate"}, {"rule": "prerequisite", "lower_level": 3, "years": 4}]},
    1: {"rules": [{"rule": "guard_certificate"}, {"rule": "prerequisite", "lower_level": 2, "years": 4}]},
}


def default_config(level: int) -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_RULES[level])


def validate_config(config: Any, level: int) -> dict[str, Any]:
    """The configuration, checked (every rule known, its parameters sensible); RuleConfigError saying what is wrong."""
    if level not in LEVELS:
        raise RuleConfigError(f"没有等级 {level}")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise RuleConfigError(f"规则不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列 {exc.msg}") from None
    if not isinstance(config, dict) or not isinstance(config.get("rules"), list):
        raise RuleConfigError('规则应为 {"rules": [{"rule": 规则名, ...参数}, ...]}')
    seen: set[str] = set()
    checked = []
    for i, entry in enumerate(config["rules"], start=1):
        if not isinstance(entry, dict) or entry.get("rule") not in RULES:
            raise RuleConfigError(f"第 {i} 条规则的 rule 应为 {' / '.join(RULES)} 之一")
        name = entry["rule"]
        if name in seen:
            raise RuleConfigError(f"规则 {name} 出现了两次")
        seen.add(name)
        rule = RULES[name]
        params = {**rule.defaults, **{k: v for k, v in entry.items() if k != "rule"}}
        rule.check_params(params, level)
        checked.append({"rule": name, **params})
    return {"rules": checked}


def describe(config: dict[str, Any]) -> list[dict[str, str]]:
    """Each configured rule's name, Chinese label and sentence, for the screen."""
    out = []
    for entry in config["rules"]:
        rule = RULES[entry["rule"]]
        params = {**rule.defaults, **{k: v for k, v in entry.items() if k != "rule"}}
        out.append({"rule": rule.name, "label": rule.label, "text": rule.describe(params)})
    return out


def evaluate(config: dict[str, Any], facts: Facts) -> list[Decision]:
    """Every configured rule's decision on `facts`, in the configuration's order."""
    decisions = []
    for entry in config["rules"]:
        rule = RULES[entry["rule"]]
        params = {**rule.defaults, **{k: v for k, v in entry.items() if k != "rule"}}
        decision = rule.decide(params, facts)
        if decision is not None:
            decisions.append(decision)
    return decisions


def refusals(decisions: list[Decision] | list[dict[str, Any]]) -> list[str]:
    """The sentences of the failed conditions."""
    rows = [d.as_dict() if isinstance(d, Decision) else d for d in decisions]
    return [d["words"] for d in rows if d["outcome"] == FAIL]


def theory_exempt(decisions: list[Decision] | list[dict[str, Any]]) -> bool:
    rows = [d.as_dict() if isinstance(d, Decision) else d for d in decisions]
    return any(d["outcome"] == EXEMPT for d in rows)

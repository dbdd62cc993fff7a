"""Blueprint specs: parsing, validation naming the field, YAML/JSON round trips, storage."""

from __future__ import annotations

import pytest
from assembly_bank import small_spec
from sqlalchemy.orm import Session

from item_bank.blueprints import (
    BlueprintError,
    BlueprintSpec,
    create_blueprint,
    dumps_spec,
    loads_spec,
    spec_of,
    update_blueprint,
)

YAML = """
name: 初级保安员理论知识 A
level: 5
part: theory
duration_min: 90
pass_mark: 60
sections:
  - {type: judge, count: 20, points: 1}
  - {type: single, count: 60, points: 1}
  - {type: multiple, count: 20, points: 1, scoring_rule: all_or_nothing}
area_shares: {消防安全: 0.12, 法律基础知识: 0.12}
area_tolerance: 0.03
difficulty: {mean_p: [0.6, 0.8]}
max_overlap: 0.1
"""


def test_yaml_parses_into_spec() -> None:
    spec = loads_spec(YAML)
    assert spec.duration_s == 5400
    assert spec.item_count == 100 and spec.total_points == 100
    assert spec.sections[2].scoring_rule == "all_or_nothing"
    assert spec.difficulty is not None and (spec.difficulty.p_min, spec.difficulty.p_max) == (0.6, 0.8)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(fmt: str) -> None:
    spec = loads_spec(YAML)
    again = loads_spec(dumps_spec(spec, fmt))
    assert again == spec


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ("level: 7", "level"),
        ("sections:\n  - {type: judge, count: 0}", "sections[0].count"),
        ("sections:\n  - {type: single, count: 3, scoring_rule: partial}", "sections[0].scoring_rule"),
        ("sections:\n  - {type: bogus, count: 3}", "sections[0].type"),
        ("area_shares: {a: 0.8, b: 0.5}", "area_shares"),
        ("difficulty: {mean_p: [0.9, 0.5]}", "difficulty.mean_p"),
        ("max_overlap: 2", "max_overlap"),
        ("pass_mark: abc", "pass_mark"),
        ("colour: red", "colour"),
    ],
)
def test_errors_name_the_field(patch: str, field: str) -> None:
    key = patch.split(":")[0]
    lines = [
        line
        for line in YAML.strip().splitlines()
        if not line.startswith(key) and not (key == "sections" and line.startswith("  -"))
    ]
    with pytest.raises(BlueprintError) as info:
        loads_spec("\n".join(lines) + "\n" + patch)
    assert any(p.field == field for p in info.value.problems), info.value.problems


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(BlueprintError, match="第 2 行"):
        loads_spec("name: x\nlevel: : 5\n")


def test_store_and_update(session: Session) -> None:
    bp = create_blueprint(session, small_spec(), "tester")
    session.commit()
    assert spec_of(bp) == small_spec()
    with pytest.raises(BlueprintError, match="已存在"):
        create_blueprint(session, small_spec(), "tester")
    session.rollback()
    changed = small_spec(area_tolerance=0.1)
    update_blueprint(session, bp, changed, "tester")
    session.commit()
    assert spec_of(bp).area_tolerance == 0.1


def test_spec_validate_reports_empty() -> None:
    problems = BlueprintSpec(name="", level=5).validate()
    assert {p.field for p in problems} >= {"name", "sections"}

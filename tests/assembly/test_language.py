"""The blueprint language (issue 16): rules a test designer states, checked on the stored forms by this
file's own counting (never through the solver or the product's rule matcher), and conflicts named as rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from assembly_bank import BankBuilder, small_spec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.assembly import AssemblyInfeasible, IdenticalForm, assemble_forms
from item_bank.assembly.evaluate import evaluate_form
from item_bank.assembly.mip import MipModel
from item_bank.assembly.pool import records_for_versions
from item_bank.blueprints import (
    BlueprintError,
    BlueprintSpec,
    ExcludeSpec,
    InformationSpec,
    ObjectiveSpec,
    RuleSpec,
    SectionSpec,
    create_blueprint,
)
from item_bank.form_review import review_form
from item_bank.forms import FormStateError, approve_form, lock_form
from item_bank.models import Form, FormItem, Item, ItemVersion, KnowledgeArea

LEVELS = ("识记", "理解", "应用")


def tree(session: Session) -> dict[str, KnowledgeArea]:
    """Two standards with objectives under them: S1 > S1.1, S1.2; S2 > S2.1, S2.2."""
    out: dict[str, KnowledgeArea] = {}
    for code in ("S1", "S2"):
        out[code] = KnowledgeArea(code=code, name=f"标准{code}", level=5, part="theory", position=1)
        session.add(out[code])
        session.flush()
        for k in (1, 2):
            child = f"{code}.{k}"
            out[child] = KnowledgeArea(
                code=child, name=f"目标{child}", level=5, part="theory", parent_id=out[code].id, position=k
            )
            session.add(out[child])
    session.flush()
    return out


def attribute_bank(session: Session, per_cell: int = 3, seed: int = 3) -> dict[str, KnowledgeArea]:
    """Items on the four objectives, every type, cognitive level and a format attribute."""
    rng = np.random.default_rng(seed)
    areas = tree(session)
    bank = BankBuilder(session, prefix="L")
    for code in ("S1.1", "S1.2", "S2.1", "S2.2"):
        for t in ("judge", "single", "multiple"):
            for n in range(per_cell * 2):
                bank.add(
                    t,
                    areas[code],
                    p=float(rng.uniform(0.3, 0.95)),
                    irt=(float(rng.uniform(0.3, 2.0)), float(rng.normal()), 0.2),
                    cognitive_level=LEVELS[n % 3],
                    attributes={"format": "情景" if n % 4 == 0 else "文字"},
                )
    session.flush()
    return areas


# ----- the independent checker: the stored rows, the tree's parent links, plain counting -----


def form_rows(session: Session, form: Form) -> list[tuple[FormItem, ItemVersion, str]]:
    rows = session.scalars(
        select(FormItem).where(FormItem.form_id == form.id).order_by(FormItem.position)
    ).all()
    out = []
    for fi in rows:
        v = session.get(ItemVersion, fi.item_version_id)
        item = session.get(Item, v.item_id)
        out.append((fi, v, item.external_id))
    return out


def codes_up(session: Session, area_id: int | None) -> set[str]:
    codes = set()
    while area_id is not None:
        a = session.get(KnowledgeArea, area_id)
        codes.add(a.code)
        area_id = a.parent_id
    return codes


def in_scope(session: Session, rule: dict[str, Any], fi: FormItem, v: ItemVersion) -> bool:
    if "area" in rule and rule["area"] not in codes_up(session, v.knowledge_area_id):
        return False
    if "type" in rule and v.type != rule["type"]:
        return False
    if "cognitive_level" in rule and v.cognitive_level != rule["cognitive_level"]:
        return False
    return not ("format" in rule and (v.attributes or {}).get("format") != rule["format"])


def check(session: Session, form: Form, rules: list[dict[str, Any]]) -> list[str]:
    broken = []
    rows = form_rows(session, form)
    for rule in rules:
        value = sum(
            (1.0 if rule.get("measure", "count") == "count" else fi.points)
            for fi, v, _ in rows
            if in_scope(session, rule, fi, v)
        )
        tol = rule.get("tolerance", 0)
        if ("min" in rule and value < rule["min"] - tol) or ("max" in rule and value > rule["max"] + tol):
            broken.append(f"{rule}: {value}")
    return broken


RULES: list[dict[str, Any]] = [
    # A standard and its objectives bounded together (an item counts toward every ancestor).
    {"area": "S1", "min": 5, "max": 6},
    {"area": "S1.1", "min": 2, "max": 2},
    {"area": "S1.2", "min": 2, "max": 4},
    {"area": "S2.1", "cognitive_level": "应用", "min": 1, "max": 1},
    {"type": "judge", "cognitive_level": "识记", "max": 1},
    {"format": "情景", "min": 2, "tolerance": 1},
    {"area": "S2", "measure": "points", "min": 5, "max": 6},
]


def language_spec(**kw: Any) -> BlueprintSpec:
    rules = []
    for r in RULES:
        attrs = {k: r[k] for k in ("cognitive_level", "format") if k in r}
        rules.append(
            RuleSpec(
                area=r.get("area"),
                type=r.get("type"),
                attributes=attrs,
                measure=r.get("measure", "count"),
                min=r.get("min"),
                max=r.get("max"),
                tolerance=r.get("tolerance", 0),
            )
        )
    return small_spec(area_shares={}, rules=rules, **kw)


def test_rules_on_every_tree_level_attributes_and_combinations_hold_on_stored_forms(session: Session) -> None:
    attribute_bank(session)
    excluded_ext = "L-00002"
    spec = language_spec(
        exclude=[ExcludeSpec("discrimination", "<", 0.6), ExcludeSpec("item", "in", [excluded_ext])],
        include=["L-00010"],
        order_by="easy_first",
        max_overlap=0.5,
    )
    bp = create_blueprint(session, spec, "t")
    result = assemble_forms(session, bp, 2, time_limit_s=30, seed=5)
    session.commit()
    assert len(result.forms) == 2
    for form in result.forms:
        assert check(session, form, RULES) == []
        rows = form_rows(session, form)
        assert all(v.irt_a >= 0.6 or ext == "L-00010" for _, v, ext in rows)
        assert excluded_ext not in {ext for _, _, ext in rows}
        assert "L-00010" in {ext for _, _, ext in rows}
        # Easy first within each section: p never rises along a section.
        for t in ("judge", "single", "multiple"):
            ps = [v.difficulty for _, v, _ in rows if v.type == t]
            assert ps == sorted(ps, reverse=True)
        checks = form.assembly_report["form"]["rule_checks"]
        # Every rule in the blueprint's own words, each checked: 7 rules, 2 exclusions, 1 inclusion, order.
        assert len(checks) == 11 and all(c["ok"] for c in checks)
        assert any(c["rule"] == "知识点「S1」每份 5–6 道" for c in checks)


def test_a_form_breaking_a_rule_is_reported_in_the_blueprints_words(session: Session) -> None:
    attribute_bank(session)
    bp = create_blueprint(session, language_spec(), "t")
    form = assemble_forms(session, bp, 1, time_limit_s=30, seed=1).forms[0]
    session.commit()
    # The stored form measured against a stricter blueprint: the report names the rule as written.
    stricter = small_spec(name="更严", area_shares={}, rules=[RuleSpec(area="S1", min=9)])
    ids = [fi.item_version_id for fi, _, _ in form_rows(session, form)]
    measured = evaluate_form(stricter, records_for_versions(session, stricter, ids))
    assert any(v.startswith("知识点「S1」每份至少 9 道：本卷 ") for v in measured["violations"])


def test_grid_is_one_table_of_rules(session: Session) -> None:
    attribute_bank(session)
    spec = small_spec(area_shares={}, grid={"cells": {"S1": {"识记": 2, "应用": 1}, "S2.2": {"理解": 2}}})
    spec = BlueprintSpec.from_dict(spec.to_dict())
    assert [r.words() for r in spec.all_rules()] == [
        "知识点「S1」 × 认知层次「识记」每份 2 道",
        "知识点「S1」 × 认知层次「应用」每份 1 道",
        "知识点「S2.2」 × 认知层次「理解」每份 2 道",
    ]
    bp = create_blueprint(session, spec, "t")
    form = assemble_forms(session, bp, 1, time_limit_s=30, seed=2).forms[0]
    grid = [
        {"area": "S1", "cognitive_level": "识记", "min": 2, "max": 2},
        {"area": "S1", "cognitive_level": "应用", "min": 1, "max": 1},
        {"area": "S2.2", "cognitive_level": "理解", "min": 2, "max": 2},
    ]
    assert check(session, form, grid) == []


def test_bank_lacking_items_is_said_by_supply_arithmetic_without_a_solver(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    areas = tree(session)
    bank = BankBuilder(session)
    bank.add_many(297, "judge", areas["S1.1"])
    bank.add("judge", areas["S2.1"])  # the only item of S2.1 ("3E 类只有 1 道题")
    monkeypatch.setattr(MipModel, "solve", lambda *a, **k: pytest.fail("the solver ran"))
    spec = BlueprintSpec(
        name="四十份",
        level=5,
        sections=[SectionSpec("judge", 10)],
        max_overlap=0.0,
        rules=[RuleSpec(area="S2.1", min=1)],
    )
    bp = create_blueprint(session, spec, "t")
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 40, time_limit_s=30)
    message = str(info.value)
    assert "40 份试卷不能共用题目，共需 400 道判断题" in message and "只有 298 道" in message
    assert "知识点「S2.1」每份至少 1 道" in message and "只有 1 道" in message and "T-00298" in message


def test_conflicting_rules_are_named_as_the_smallest_set(session: Session) -> None:
    attribute_bank(session, per_cell=4)
    # S1 at most 4 items, but its objectives want 2 + 3: those three rules clash; the others are innocent.
    spec = small_spec(
        area_shares={},
        rules=[
            RuleSpec(area="S1", max=4),
            RuleSpec(area="S1.1", min=2),
            RuleSpec(area="S1.2", min=3),
            RuleSpec(area="S2", min=1),
            RuleSpec(attributes={"cognitive_level": "理解"}, min=1),
        ],
    )
    bp = create_blueprint(session, spec, "t")
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 1, time_limit_s=30)
    conflict = info.value.conflict
    assert conflict is not None
    assert sorted(conflict.groups) == [("rule", "0"), ("rule", "1"), ("rule", "2")]
    message = str(info.value)
    assert "下面 3 条要求不能同时满足" in message
    assert "知识点「S1」每份至多 4 道" in message and "知识点「S1.2」每份至少 3 道" in message
    assert "理解" not in message


def test_disjoint_forms_and_a_rule_clash_as_rules(session: Session) -> None:
    areas = tree(session)
    bank = BankBuilder(session)
    bank.add_many(6, "judge", areas["S1.1"])
    bank.add_many(3, "judge", areas["S2.1"])
    # Two disjoint forms of 3 judge items, at most 1 from S1 each: 4 S2 items are needed, the bank has 3.
    spec = BlueprintSpec(
        name="两份",
        level=5,
        sections=[SectionSpec("judge", 3)],
        max_overlap=0.0,
        rules=[RuleSpec(area="S1", max=1), RuleSpec(area="S2", max=3)],
    )
    bp = create_blueprint(session, spec, "t")
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 2, time_limit_s=30)
    assert sorted(info.value.conflict.groups) == [("reuse", "disjoint"), ("rule", "0"), ("section", "judge")]
    message = str(info.value)
    assert "2 份试卷不能共用题目" in message and "知识点「S1」每份至多 1 道" in message
    assert "判断题每份 3 道（题库可用 9 道判断题）" in message and "S2」每份至多 3" not in message


def test_an_unreachable_target_reports_what_each_theta_can_reach_alone(session: Session) -> None:
    attribute_bank(session)
    spec = small_spec(
        area_shares={}, information=InformationSpec(thetas=[0.0], targets=[500.0], tolerance=0.1)
    )
    bp = create_blueprint(session, spec, "t")
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 1, time_limit_s=30)
    assert info.value.conflict is not None
    (line,) = info.value.conflict.reach
    reach = float(line.split("最多能做到 ")[1].split("（")[0])
    # The same bank maximising information at θ=0 alone reaches exactly that.
    best = small_spec(name="最大", area_shares={}, objective=ObjectiveSpec("maximin", thetas=[0.0]))
    form = assemble_forms(session, create_blueprint(session, best, "t"), 1, time_limit_s=30, gap=1e-6).forms[
        0
    ]
    total = 0.0
    for _, v, _ in form_rows(session, form):
        p = v.irt_c + (1 - v.irt_c) / (1 + np.exp(-v.irt_a * (0.0 - v.irt_b)))
        total += v.irt_a**2 * ((p - v.irt_c) / (1 - v.irt_c)) ** 2 * (1 - p) / p
    assert reach == pytest.approx(total, abs=0.01)


def test_maximin_reports_its_gap_in_information_units(session: Session) -> None:
    attribute_bank(session)
    spec = small_spec(area_shares={}, objective=ObjectiveSpec("maximin", thetas=[-1.0, 1.0]), max_overlap=0.0)
    bp = create_blueprint(session, spec, "t")
    result = assemble_forms(session, bp, 2, time_limit_s=30, gap=0.0001)
    sol = result.report["solver"]
    assert sol["objective_kind"] == "maximin" and sol["gap_limit"] == 0.0001
    # The objective is the information the weakest form has at its weakest θ, measured on the items.
    assert sol["objective_value"] == pytest.approx(result.report["measured"]["min_information"], abs=1e-4)
    assert sol["objective_bound"] >= sol["objective_value"] - 1e-6
    assert sol["gap_units"] == pytest.approx(sol["objective_bound"] - sol["objective_value"], abs=1e-6)


def test_each_assembly_takes_a_fresh_seed_and_refuses_identical_forms_before_storing(session: Session) -> None:
    attribute_bank(session)
    bp = create_blueprint(session, small_spec(area_shares={}), "t")
    first = assemble_forms(session, bp, 1, time_limit_s=30)
    second = assemble_forms(session, bp, 1, time_limit_s=30)
    assert first.report["seed"] != second.report["seed"]
    stored = session.scalar(select(func.count(Form.id)))
    # The same seed chooses the same items: refused before anything is stored, naming the existing form.
    with pytest.raises(IdenticalForm) as refused:
        assemble_forms(session, bp, 1, time_limit_s=30, seed=first.report["seed"])
    assert first.forms[0].code in str(refused.value) and "完全相同" in str(refused.value)
    assert "--allow-identical" in str(refused.value)
    assert session.scalar(select(func.count(Form.id))) == stored
    # Asked to keep it anyway: stored, with the warning in its report.
    again = assemble_forms(session, bp, 1, time_limit_s=30, seed=first.report["seed"], allow_identical=True)
    assert session.scalar(select(func.count(Form.id))) == stored + 1
    assert any(first.forms[0].code in w and "完全相同" in w for w in again.report["warnings"])


def test_old_blueprints_read_unchanged_and_the_language_round_trips() -> None:
    old = {
        "name": "旧蓝图",
        "level": 5,
        "duration_min": 90,
        "sections": [{"type": "judge", "count": 20}],
        "area_shares": {"A01": 0.5},
        "difficulty": {"mean_p": [0.6, 0.8]},
    }
    spec = BlueprintSpec.from_dict(old)
    data = spec.to_dict()
    assert not {"rules", "grid", "include", "exclude", "objective", "order_by"} & set(data)
    new = dict(
        old,
        rules=[{"area": "3E", "cognitive_level": "应用", "min": 1, "max": 3, "tolerance": 1}],
        include="X-1, X-2",
        exclude=[{"field": "discrimination", "op": "<", "value": 0.15}],
        objective={"kind": "maximin", "thetas": [-1, 0, 1]},
        order_by="hard_first",
    )
    with pytest.raises(BlueprintError, match="不能同时使用"):
        BlueprintSpec.from_dict(dict(new, information={"thetas": [0], "targets": [5]}))
    spec = BlueprintSpec.from_dict(new)
    assert spec.include == ["X-1", "X-2"] and spec.maximin
    assert BlueprintSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()
    with pytest.raises(BlueprintError, match=r"rules\[0\]"):
        BlueprintSpec.from_dict(dict(old, rules=[{"area": "3E", "min": 4, "max": 2}]))


def test_weight_error_speaks_percent() -> None:
    with pytest.raises(BlueprintError, match="比重合计 110%，不能超过 100%"):
        BlueprintSpec.from_dict(
            {
                "name": "x",
                "level": 5,
                "sections": [{"type": "judge", "count": 2}],
                "area_shares": {"A": 0.6, "B": 0.5},
            }
        )


def test_locking_needs_a_second_person(session: Session) -> None:
    attribute_bank(session)
    form = assemble_forms(
        session, create_blueprint(session, small_spec(area_shares={}), "t"), 1, time_limit_s=30
    ).forms[0]
    with pytest.raises(FormStateError, match="先审核通过"):
        lock_form(session, form, "user:甲")
    approve_form(session, form, "user:甲")
    with pytest.raises(FormStateError, match="另一位管理员"):
        lock_form(session, form, "user:甲")
    lock_form(session, form, "user:乙")
    session.commit()
    assert form.status == "locked"


def test_weight_table_error_speaks_percent(session: Session) -> None:
    from item_bank.tree import TreeError, set_weight_table

    areas = tree(session)
    with pytest.raises(TreeError, match="比重合计 110%，不能超过 100%"):
        set_weight_table(session, 5, "theory", {areas["S1"].id: 0.6, areas["S2"].id: 0.5}, actor="t")


def test_the_report_composition_shows_each_area_when_the_blueprint_lists_none(session: Session) -> None:
    attribute_bank(session)
    bp = create_blueprint(session, small_spec(area_shares={}), "t")
    form = assemble_forms(session, bp, 1, time_limit_s=30, seed=4).forms[0]
    per_area: dict[str, int] = {}
    for fi in form.items:
        version = session.get(ItemVersion, fi.item_version_id)
        area = session.get(KnowledgeArea, version.knowledge_area_id) if version else None
        assert area is not None
        per_area[area.name] = per_area.get(area.name, 0) + 1
    rows = review_form(session, form).composition
    assert {r["name"]: sum(r["by_type"].values()) for r in rows} == per_area and len(per_area) > 1

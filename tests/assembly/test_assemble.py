"""Assembly: every constraint kind is checked on the stored forms, never on the solver's word."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from assembly_bank import BankBuilder, make_areas, rich_bank, small_spec
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.assembly import AssemblyInfeasible, assemble_forms
from item_bank.audit import AuditEvent
from item_bank.blueprints import create_blueprint
from item_bank.models import Form, FormItem, ItemVersion


def stored(session: Session, form: Form) -> list[tuple[FormItem, ItemVersion]]:
    rows = session.scalars(
        select(FormItem).where(FormItem.form_id == form.id).order_by(FormItem.position)
    ).all()
    return [(fi, session.get(ItemVersion, fi.item_version_id)) for fi in rows]


def area_points(session: Session, form: Form) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for fi, v in stored(session, form):
        out[v.knowledge_area_id] += fi.points
    return out


def test_sections_counts_points_and_rules(session: Session) -> None:
    rich_bank(session)
    bp = create_blueprint(session, small_spec(), "t")
    result = assemble_forms(session, bp, 1, time_limit_s=20, actor="tester")
    session.commit()
    (form,) = result.forms
    assert form.status == "assembled"
    rows = stored(session, form)
    assert Counter(v.type for _, v in rows) == {"judge": 4, "single": 4, "multiple": 2}
    assert sum(fi.points for fi, _ in rows) == 12
    assert {fi.scoring_rule for fi, v in rows if v.type == "multiple"} == {"all_or_nothing"}
    assert {fi.scoring_rule for fi, v in rows if v.type != "multiple"} == {"exact"}
    assert [fi.position for fi, _ in rows] == list(range(1, 11))
    # Sections in blueprint order.
    assert [v.type for _, v in rows] == ["judge"] * 4 + ["single"] * 4 + ["multiple"] * 2
    # No item twice.
    assert len({v.item_id for _, v in rows}) == 10
    report = form.assembly_report
    assert report["solver"]["gap"] is not None and report["solver"]["gap"] <= 0.01
    assert report["time_limit_s"] == 20 and report["seconds"]["total"] > 0
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "form.assemble")).actor == "tester"


def test_area_shares_within_tolerance(session: Session) -> None:
    areas = rich_bank(session)
    spec = small_spec(area_shares={"A01": 0.25, "A02": 0.75}, area_tolerance=0.0)
    bp = create_blueprint(session, spec, "t")
    (form,) = assemble_forms(session, bp, 1, time_limit_s=20).forms
    pts = area_points(session, form)
    assert pts[areas["法律"].id] == 3 and pts[areas["消防"].id] == 9


def test_unsatisfiable_section_names_what_is_short(session: Session) -> None:
    areas = make_areas(session, ["法律", "消防"])
    bank = BankBuilder(session)
    for area in areas.values():
        bank.add_many(6, "judge", area)
        bank.add_many(6, "multiple", area)
    bank.add_many(3, "single", areas["消防"])
    bank.add_many(5, "single", areas["消防"], status="draft")
    bp = create_blueprint(session, small_spec(), "t")
    session.commit()
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 1, time_limit_s=10)
    message = str(info.value)
    assert "单选题" in message and "需要 4 道" in message and "只有 3 道" in message
    assert "5级" in message
    assert session.scalar(select(Form)) is None


def test_unsatisfiable_area_names_area_and_amount(session: Session) -> None:
    areas = make_areas(session, ["法律", "消防"])
    bank = BankBuilder(session)
    for t in ("judge", "single", "multiple"):
        bank.add_many(8, t, areas["法律"])
    bank.add(t, areas["消防"])
    bp = create_blueprint(session, small_spec(), "t")
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 1, time_limit_s=10)
    message = str(info.value)
    assert "消防" in message and "至少需要" in message and "分" in message


def test_level_without_items_is_reported(session: Session) -> None:
    rich_bank(session)
    bp = create_blueprint(session, small_spec(level=4), "t")
    with pytest.raises(AssemblyInfeasible) as info:
        assemble_forms(session, bp, 1, time_limit_s=10)
    message = str(info.value)
    assert "4级" in message and "判断题" in message and "只有 0 道" in message and "不适用于本等级" in message

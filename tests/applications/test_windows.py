"""Application windows per level and part: their boundaries, and an application outside them refused with why."""

from __future__ import annotations

import datetime as dt

import pytest

from exam_server.applications import operations as ops
from exam_server.applications.models import Application

DAY = dt.timedelta(days=1)


def test_the_window_includes_its_first_and_last_day(world) -> None:
    window = world.session.query(ops.ApplicationWindow).filter_by(level=5, part="theory").one()
    first, last = window.opens_on, window.closes_on
    a = ops.submit_application(world.session, world.unit1, world.row(1), channel="screen", actor="cli:t", today=first)
    b = ops.submit_application(world.session, world.unit1, world.row(2), channel="screen", actor="cli:t", today=last)
    assert a.window_id == window.id and b.parts == ["theory", "skill"]
    with pytest.raises(ops.ApplicationError, match=f"尚未开始申报（申报时间 {first} 至 {last}）") as before:
        ops.submit_application(world.session, world.unit1, world.row(3), channel="screen", actor="cli:t",
                               today=first - DAY)
    assert before.value.problems[0].column == "申报等级"
    with pytest.raises(ops.ApplicationError, match=f"申报已于 {last} 截止"):
        ops.submit_application(world.session, world.unit1, world.row(3), channel="screen", actor="cli:t",
                               today=last + DAY)
    assert world.session.query(Application).count() == 2


def test_a_level_never_opened_is_refused_in_words(world) -> None:
    with pytest.raises(ops.ApplicationError, match="中级保安员（四级）尚未开放申报"):
        ops.submit_application(world.session, world.unit1, world.row(1, 申报等级="四级"), channel="screen",
                               actor="cli:t")


def test_only_the_parts_whose_window_is_open_are_applied_for(world) -> None:
    today = world.today
    ops.open_window(world.session, level=4, part="skill", opens_on=today, closes_on=today + DAY, actor="cli:t")
    row = world.row(1, 申报等级="中级", 原等级证书编号="Z5-1", 从业年限="6")
    application = ops.submit_application(world.session, world.unit1, row, channel="screen", actor="cli:t")
    assert application.parts == ["skill"] and application.level == 4


def test_an_exempt_person_is_refused_when_only_theory_is_open(world) -> None:
    skill = world.session.query(ops.ApplicationWindow).filter_by(level=5, part="skill").one()
    ops.change_window(world.session, skill, opens_on=skill.opens_on, closes_on=world.today - DAY, exam_on=None,
                      actor="cli:t")
    recent = (world.today - dt.timedelta(days=200)).isoformat()
    with pytest.raises(ops.ApplicationError, match="免考理论知识，无需申报"):
        ops.submit_application(world.session, world.unit1, world.row(1, 保安员证发证日期=recent), channel="screen",
                               actor="cli:t")


def test_windows_of_a_level_and_part_may_not_overlap_or_run_backwards(world) -> None:
    today = world.today
    with pytest.raises(ops.ApplicationError, match="重叠"):
        ops.open_window(world.session, level=5, part="skill", opens_on=today + 10 * DAY, closes_on=today + 40 * DAY,
                        actor="cli:t")
    with pytest.raises(ops.ApplicationError, match="早于开始日期"):
        ops.open_window(world.session, level=3, part="skill", opens_on=today, closes_on=today - DAY, actor="cli:t")
    later = ops.open_window(world.session, level=5, part="skill", opens_on=today + 11 * DAY,
                            closes_on=today + 40 * DAY, actor="cli:t")
    assert later.id


def test_the_exemption_is_judged_on_the_windows_planned_exam_date(world) -> None:
    # Planned sitting 30 days after today: a certificate issued 3 years minus 29 days before today is still
    # under 3 years on the sitting date only if issued after (sitting - 3 years).
    window = world.session.query(ops.ApplicationWindow).filter_by(level=5, part="theory").one()
    exam = window.exam_on
    issued_exempt = exam.replace(year=exam.year - 3) + DAY
    issued_not = exam.replace(year=exam.year - 3)
    a = ops.submit_application(world.session, world.unit1, world.row(1, 保安员证发证日期=issued_exempt.isoformat()),
                               channel="screen", actor="cli:t")
    b = ops.submit_application(world.session, world.unit1, world.row(2, 保安员证发证日期=issued_not.isoformat()),
                               channel="screen", actor="cli:t")
    assert a.theory_exempt and a.parts == ["skill"]
    assert not b.theory_exempt and b.parts == ["theory", "skill"]
    decision = next(d for d in a.decisions if d["rule"] == "theory_exemption")
    assert decision["facts"]["考试日期"] == exam.isoformat() and decision["outcome"] == "exempt"


def test_cli_change_extends_the_open_window_instead_of_refusing_an_overlap(app, world) -> None:
    runner = app.test_cli_runner()
    first = (world.today + dt.timedelta(days=1)).isoformat()
    later = (world.today + dt.timedelta(days=9)).isoformat()
    assert runner.invoke(args=["open-applications", "3", "--until", first, "--part", "theory"]).exit_code == 0
    refused = runner.invoke(args=["open-applications", "3", "--until", later, "--part", "theory"])
    assert refused.exit_code == 1 and "重叠" in refused.output and "--change" in refused.output
    changed = runner.invoke(args=["open-applications", "3", "--until", later, "--part", "theory", "--change"])
    assert changed.exit_code == 0, changed.output
    mine = [w for w in ops.windows(world.session) if w.level == 3 and w.part == "theory"]
    assert len(mine) == 1 and mine[0].closes_on.isoformat() == later

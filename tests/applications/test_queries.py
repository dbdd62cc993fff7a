"""What the sittings package reads: approved applications by unit, city, centre, level, part and window, with the
exemption decision; the photo; the ticketed step."""

from __future__ import annotations

import datetime as dt

import pytest

from exam_server.applications import operations as ops
from exam_server.applications.queries import applicant_photo, approved_applications, exemption_on
from exam_server.applications.review import ReviewRefused
from exam_server.organisations.scope import EVERYTHING, scope_for


def _approved(world, unit, n: int, **over) -> ops.Application:
    application = ops.submit_application(world.session, unit, world.row(n, 培训单位=unit.code, **over),
                                         channel="screen", actor="user:t")
    ops.review(world.session, application, stage="unit", approve=True, reason="", actor="user:t", scope=EVERYTHING)
    ops.review(world.session, application, stage="centre", approve=True, reason="", actor="user:t", scope=EVERYTHING)
    return application


def test_approved_applications_with_their_exemption(world) -> None:
    recent = (world.today - dt.timedelta(days=100)).isoformat()
    exempt = _approved(world, world.unit1, 1, 保安员证发证日期=recent)
    sits = _approved(world, world.unit2, 2)
    pending = ops.submit_application(world.session, world.unit1, world.row(3), channel="screen", actor="user:t")
    everyone = approved_applications(world.session)
    assert [a.id for a in everyone] == [exempt.id, sits.id] and pending.id not in [a.id for a in everyone]
    theory = approved_applications(world.session, part="theory")
    assert [a.id for a in theory] == [sits.id]  # the exempt person is left out of theory
    first = everyone[0]
    assert first.theory_exempt and first.parts == ("skill",) and first.exemption["outcome"] == "exempt"
    assert first.unit_name == world.unit1.name and first.centre_id == world.centre.id
    assert [a.id for a in approved_applications(world.session, unit_ids=[world.unit2.id])] == [sits.id]
    assert len(approved_applications(world.session, city_id=world.unit1.parent_id, level=5)) == 2
    assert approved_applications(world.session, level=4) == []
    unit_scope = scope_for(world.users["unit1"], world.session)
    assert [a.id for a in approved_applications(world.session, scope=unit_scope)] == [exempt.id]
    # Decided again for a later sitting date: 3 years after the certificate, no longer exempt.
    later = exemption_on(exempt, exempt.guard_cert_date.replace(year=exempt.guard_cert_date.year + 3))
    assert later is not None and later.outcome == "not_exempt"
    assert applicant_photo(world.session, exempt.id) is None


def test_ticketed_only_after_the_centre(world) -> None:
    approved = _approved(world, world.unit1, 1)
    ops.mark_ticketed(world.session, approved, "system:schedule")
    world.session.commit()
    assert approved.status == "ticketed" and approved_applications(world.session) == []
    pending = ops.submit_application(world.session, world.unit1, world.row(2), channel="screen", actor="user:t")
    with pytest.raises(ReviewRefused):
        ops.mark_ticketed(world.session, pending, "system:schedule")

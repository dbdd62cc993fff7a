"""Who sees what: scope_for by organisation and role, and the checks other domains call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.organisations import operations as ops
from exam_server.organisations.scope import OutOfScope, scope_for
from exam_server.sessions import sites
from exam_server.sessions.models import Site


def test_a_centre_sees_its_sites_units_and_sittings_and_refuses_the_others(
    session: Session, world: Any, make_account: Callable[..., Any]
) -> None:
    w = world
    staff_a = make_account("staff_a", ["centre_staff"], w.centre_a.id)
    scope = scope_for(staff_a)
    assert scope.centre_ids == {w.centre_a.id} and scope.unit_ids == {w.unit_a.id}
    assert not scope.everything and not scope.read_only
    assert [s.code for s in session.scalars(sites.sites_query(scope))] == ["GZ01"]
    assert [s.code for s in session.scalars(sites.sittings_query(scope))] == ["S-GZ"]
    assert [u.code for u in ops.units(session, scope)] == ["UA"]
    sites.check_site(scope, w.site_a)
    with pytest.raises(OutOfScope) as refused:
        sites.check_site(scope, w.site_b)
    assert refused.value.status == 403 and "不属于您所在的机构" in refused.value.message
    assert "广州鉴定中心" in refused.value.message
    with pytest.raises(OutOfScope):
        sites.check_sitting(scope, w.sitting_b)
    with pytest.raises(OutOfScope):
        scope.check_unit(w.unit_b.id)
    # Two centres: a site no centre owns belongs to neither centre's staff.
    legacy = sites.create_site(session, code="OLD", name="旧考点", actor="test")
    assert not scope.sees_centre(legacy.centre_id)


def test_a_unit_sees_only_itself(
    session: Session, world: Any, make_account: Callable[..., Any]
) -> None:
    w = world
    scope = scope_for(make_account("unit_a", ["pilot_unit"], w.unit_a.id))
    assert scope.unit_ids == {w.unit_a.id} and not scope.centre_ids
    assert [u.code for u in ops.units(session, scope)] == ["UA"]
    assert list(session.scalars(sites.sites_query(scope))) == []
    with pytest.raises(OutOfScope):
        scope.check_unit(w.unit_b.id, "申请")


def test_the_province_sees_everything_and_the_police_only_read(
    session: Session, world: Any, make_account: Callable[..., Any]
) -> None:
    w = world
    province = ops.ensure_province(session, "test")
    for user in (make_account("prov", ["province"]), make_account("prov2", ["centre_staff"], province.id),
                 make_account("root", ["admin"])):
        scope = scope_for(user)
        assert scope.everything and not scope.read_only
        assert len(list(session.scalars(sites.sites_query(scope)))) == 2
        scope.check_write()
    police = scope_for(make_account("police", ["police"]))
    assert police.everything and police.read_only
    sites.check_site(police, w.site_b)
    with pytest.raises(OutOfScope) as refused:
        police.check_write()
    assert refused.value.code == "read_only" and "只能查看" in refused.value.message
    with pytest.raises(OutOfScope):
        sites.update_site(session, w.site_a, filing_number="X", actor="test", scope=police)


def test_an_account_without_organisation_is_never_widened_to_a_guess(
    app: Flask, session: Session, make_account: Callable[..., Any]
) -> None:
    sites.create_site(session, code="OLD", name="旧考点", actor="test")
    staff = make_account("legacy", ["centre_staff"])
    # No centre yet (an install from before organisations): it sees what no centre owns, i.e. everything so far.
    assert [s.code for s in session.scalars(sites.sites_query(scope_for(staff)))] == ["OLD"]
    # Exactly one centre: the account acts for it, and the unassigned rows stay visible to it.
    only = ops.create_centre(session, name="唯一中心", city="广州", actor="test")
    owned = sites.create_site(session, code="NEW", name="新考点", centre_id=only.id, actor="test")
    scope = scope_for(staff)
    assert scope.centre_ids == {only.id} and scope.own_centre_id == only.id
    assert {s.code for s in session.scalars(sites.sites_query(scope))} == {"OLD", "NEW"}
    # A second centre: no guess any more; only what no centre owns.
    ops.create_centre(session, name="第二中心", city="深圳", actor="test")
    scope = scope_for(staff)
    assert not scope.centre_ids
    assert [s.code for s in session.scalars(sites.sites_query(scope))] == ["OLD"]
    with pytest.raises(OutOfScope):
        sites.check_site(scope, owned)
    # Other roles without an organisation never act for the only centre.
    assert not scope_for(make_account("unit_legacy", ["pilot_unit"])).centre_ids
    assert session.scalar(select(Site).where(Site.code == "OLD")).centre_id is None

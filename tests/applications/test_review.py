"""The two-stage review: the state machine, reasons, batches with a summary, resubmission, the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from exam_server.applications import operations as ops
from exam_server.applications.models import Application
from exam_server.applications.review import APPLICATION_REVIEW, ReviewRefused
from exam_server.organisations.scope import scope_for
from item_bank.audit import AuditEvent

ALL_STATES = ("submitted", "unit_approved", "unit_rejected", "centre_approved", "centre_rejected", "ticketed")


def test_the_review_table() -> None:
    allowed = {(a, b) for a in ALL_STATES for b in ALL_STATES
               for action in ("unit_approve", "unit_reject", "centre_approve", "centre_reject", "ticket")
               if APPLICATION_REVIEW.allows(action, a, b)}
    assert allowed == {("submitted", "unit_approved"), ("submitted", "unit_rejected"),
                       ("unit_approved", "centre_approved"), ("unit_approved", "centre_rejected"),
                       ("centre_approved", "ticketed")}
    # A centre cannot approve what the unit has not passed, nor a unit act after the centre.
    assert not APPLICATION_REVIEW.allows("centre_approve", "submitted", "centre_approved")
    assert not APPLICATION_REVIEW.allows("unit_reject", "centre_approved", "unit_rejected")


def _submit(world, n: int) -> Application:
    return ops.submit_application(world.session, world.unit1, world.row(n), channel="screen", actor="user:unit1")


def test_unit_then_centre_each_step_audited(world) -> None:
    s = world.session
    application = _submit(world, 1)
    unit_scope, centre_scope = scope_for(world.users["unit1"], s), scope_for(world.users["centre"], s)
    with pytest.raises(ReviewRefused, match="不能执行「复审通过」"):
        ops.review(s, application, stage="centre", approve=True, reason="", actor="user:centre", scope=centre_scope)
    s.rollback()
    ops.review(s, application, stage="unit", approve=True, reason="", actor="user:unit1", scope=unit_scope)
    ops.review(s, application, stage="centre", approve=True, reason="材料齐全", actor="user:centre", scope=centre_scope)
    assert application.status == "centre_approved" and application.centre_reason == "材料齐全"
    assert application.unit_reviewed_by == "user:unit1" and application.centre_reviewed_at is not None
    trail = s.execute(select(AuditEvent.action, AuditEvent.actor, AuditEvent.before, AuditEvent.after)
                      .where(AuditEvent.entity == "application", AuditEvent.entity_id == str(application.id))
                      .order_by(AuditEvent.id)).all()
    assert [(t.action, t.actor) for t in trail] == [
        ("submit_application", "user:unit1"), ("unit_approve", "user:unit1"), ("centre_approve", "user:centre")]
    assert trail[2].before == {"status": "unit_approved"} and trail[2].after == {"status": "centre_approved"}


def test_a_rejection_needs_a_reason_and_the_person_may_apply_again(world) -> None:
    s = world.session
    application = _submit(world, 1)
    scope = scope_for(world.users["unit1"], s)
    with pytest.raises(ReviewRefused, match="须写明原因"):
        ops.review(s, application, stage="unit", approve=False, reason=" ", actor="user:unit1", scope=scope)
    s.rollback()
    # While the first application is pending, a second one is a duplicate.
    with pytest.raises(ops.ApplicationError, match="已有初级保安员（五级）的申请"):
        _submit(world, 1)
    ops.review(s, application, stage="unit", approve=False, reason="保安员证复印件不清晰", actor="user:unit1",
               scope=scope)
    again = _submit(world, 1)
    assert again.id != application.id and again.previous_id == application.id and again.status == "submitted"
    s.refresh(application)
    assert application.status == "unit_rejected" and application.unit_reason == "保安员证复印件不清晰"


def test_batch_review_acts_on_what_it_may_and_lists_the_rest(world) -> None:
    s = world.session
    mine = [_submit(world, n) for n in (1, 2, 3)]
    other = ops.submit_application(s, world.unit2, world.row(4, 培训单位="U2"), channel="screen", actor="user:unit2")
    scope = scope_for(world.users["unit1"], s)
    ops.review(s, mine[2], stage="unit", approve=True, reason="", actor="user:unit1", scope=scope)
    summary = ops.review_batch(s, [mine[0].id, mine[1].id, mine[2].id, other.id, 999999], stage="unit",
                               approve=True, reason="", actor="user:unit1", scope=scope)
    assert summary.done == [mine[0].id, mine[1].id]
    refused = dict(summary.refused)
    assert "初审通过，待复审" in refused[mine[2].id]
    assert "不属于本机构" in refused[other.id] and "不属于本机构" in refused[999999]
    assert summary.words("unit", True).startswith("初审通过 2 份申请；3 份未处理")
    s.refresh(other)
    assert other.status == "submitted"
    with pytest.raises(ops.ApplicationError, match="须写明原因"):
        ops.review_batch(s, [mine[0].id], stage="centre", approve=False, reason="", actor="user:centre",
                         scope=scope_for(world.users["centre"], s))


def test_the_police_read_but_may_not_review(world) -> None:
    s = world.session
    application = _submit(world, 1)
    with pytest.raises(ops.DomainError, match="只能查看"):
        ops.review(s, application, stage="unit", approve=True, reason="", actor="user:police",
                   scope=scope_for(world.users["police"], s))

"""The shared conventions: one error base, one actor spelling, one state machine, one cache registry."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.audit import AuditEvent
from item_bank.kernel import (
    DomainError,
    StateMachine,
    TransitionRefused,
    actor,
    clear_all,
    cli_actor,
    process_cache,
    system_actor,
    user_actor,
)
from item_bank.kernel.actors import kind_of
from item_bank.kernel.caches import registered


class LampRefused(TransitionRefused):
    default_code = "lamp_refused"


LAMP = StateMachine(
    "灯",
    {("off", "on"): frozenset({"switch_on"}), ("on", "off"): frozenset({"switch_off"})},
    entity="lamp",
    state_labels={"off": "关", "on": "开"},
    action_labels={"switch_on": "开灯", "switch_off": "关灯"},
    error=LampRefused,
)


class Lamp:
    def __init__(self) -> None:
        self.id, self.status = 7, "off"


def test_a_domain_error_carries_code_status_and_details() -> None:
    class SeatTaken(DomainError):
        default_code, default_status = "seat_taken", 409

    exc = SeatTaken("座位 12 已有考生。", seat=12)
    assert (exc.code, exc.status, exc.message, exc.details) == ("seat_taken", 409, "座位 12 已有考生。", {"seat": 12})
    assert exc.ack() == {"ok": False, "error": "seat_taken", "message": "座位 12 已有考生。"}
    assert DomainError("x", code="c", status=422).status == 422


def test_actors_are_spelled_one_way() -> None:
    assert user_actor("wang") == "user:wang"
    assert cli_actor("import-items") == "cli:import-items"
    assert system_actor("deadline") == "system:deadline"
    assert kind_of("user:wang") == "user" and kind_of("operator:x") == ""
    with pytest.raises(ValueError):
        actor("operator", "x")
    with pytest.raises(ValueError):
        user_actor("  ")


def test_the_state_machine_checks_sets_and_audits(session: Session) -> None:
    lamp = Lamp()
    LAMP.apply(session, lamp, "switch_on", "on", user_actor("wang"), reason="天黑了")
    assert lamp.status == "on"
    row = session.scalars(select(AuditEvent).where(AuditEvent.entity == "lamp")).one()
    assert (row.actor, row.action, row.before, row.after, row.reason) == (
        "user:wang", "switch_on", {"status": "off"}, {"status": "on"}, "天黑了")
    with pytest.raises(LampRefused) as refused:
        LAMP.apply(session, lamp, "switch_on", "on", user_actor("wang"))
    assert refused.value.message == "灯状态为「开」，不能执行「开灯」"
    assert (refused.value.code, refused.value.status) == ("lamp_refused", 409)
    assert lamp.status == "on"
    assert LAMP.allows("switch_off", "on", "off") and not LAMP.allows("switch_off", "off", "on")


def test_process_caches_register_and_clear_together() -> None:
    forms = process_cache("test:forms", max_entries=2)
    plans = process_cache("test:plans")
    assert process_cache("test:forms") is forms
    forms[1], forms[2], forms[3] = "a", "b", "c"
    assert list(forms) == [2, 3]  # the oldest entry goes first
    plans["x"] = 1
    assert registered()["test:forms"] == 2
    clear_all()
    assert not forms and not plans

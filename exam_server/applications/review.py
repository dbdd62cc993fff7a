"""The review lifecycle of an application (DESIGN.md §4): 初审 by the unit, 复审 by the centre, then a ticket.

    submitted → unit_approved | unit_rejected;  unit_approved → centre_approved | centre_rejected;
    centre_approved → ticketed (when the sittings package issues the ticket)

A rejection is final for that application: the person applies again (a new application naming the old one).
"""

from __future__ import annotations

from exam_server.applications.models import (
    CENTRE_APPROVED,
    CENTRE_REJECTED,
    SUBMITTED,
    TICKETED,
    UNIT_APPROVED,
    UNIT_REJECTED,
)
from item_bank.kernel import StateMachine, TransitionRefused

UNIT_STAGE, CENTRE_STAGE = "unit", "centre"
STAGE_LABELS = {UNIT_STAGE: "初审", CENTRE_STAGE: "复审"}
STATUS_LABELS = {
    SUBMITTED: "待初审",
    UNIT_APPROVED: "初审通过，待复审",
    UNIT_REJECTED: "初审未通过",
    CENTRE_APPROVED: "复审通过",
    CENTRE_REJECTED: "复审未通过",
    TICKETED: "已编排考试",
}
ACTION_LABELS = {
    "unit_approve": "初审通过", "unit_reject": "初审不通过",
    "centre_approve": "复审通过", "centre_reject": "复审不通过", "ticket": "编排考试",
}
# (stage, approve) → (action, target status)
STEPS = {
    (UNIT_STAGE, True): ("unit_approve", UNIT_APPROVED),
    (UNIT_STAGE, False): ("unit_reject", UNIT_REJECTED),
    (CENTRE_STAGE, True): ("centre_approve", CENTRE_APPROVED),
    (CENTRE_STAGE, False): ("centre_reject", CENTRE_REJECTED),
}


class ReviewRefused(TransitionRefused):
    default_code = "review_refused"
    default_status = 409


APPLICATION_REVIEW = StateMachine(
    "申请",
    {
        (SUBMITTED, UNIT_APPROVED): frozenset({"unit_approve"}),
        (SUBMITTED, UNIT_REJECTED): frozenset({"unit_reject"}),
        (UNIT_APPROVED, CENTRE_APPROVED): frozenset({"centre_approve"}),
        (UNIT_APPROVED, CENTRE_REJECTED): frozenset({"centre_reject"}),
        (CENTRE_APPROVED, TICKETED): frozenset({"ticket"}),
    },
    entity="application",
    state_labels=STATUS_LABELS,
    action_labels=ACTION_LABELS,
    error=ReviewRefused,
)

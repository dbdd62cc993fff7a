"""The writes of delivery around a sitting rather than a candidate's step: creating every attempt of a sitting
before it opens, and admitting a candidate to their seat.

The candidate's own steps are in `steps`, the clock and the proctor's hand on it in `clock`.
"""

from __future__ import annotations

import random

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exam_server.delivery import store
from exam_server.delivery.errors import DeliveryError
from exam_server.delivery.models import CHECKED_IN, SCHEDULED, Attempt
from exam_server.delivery.states import move
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.forms import candidate_order
from item_bank.models import FormItem, ItemVersion


def prepare_attempts(session: Session, exam_session: ExamSession, actor: str) -> int:
    """Create the attempt of every ticket of `exam_session` that has none yet; returns how many.

    Form, item order and option order are fixed here from a stored seed, so that starting an
    exam costs nothing and any candidate's screen can be reproduced.
    """
    forms = [sf.form for sf in exam_session.forms]
    if not forms:
        raise DeliveryError("no_forms", f"考试场次 {exam_session.code} 还没有指定试卷。")
    for form in forms:
        if form.status != "locked":
            raise DeliveryError("form_not_locked", f"试卷 {form.code} 尚未锁定，不能用于考试。")
    have = set(session.scalars(select(Attempt.ticket_id).where(Attempt.session_id == exam_session.id)))
    tickets = session.scalars(
        select(Ticket).where(Ticket.session_id == exam_session.id, Ticket.status == "active").order_by(Ticket.number)
    ).all()
    by_id = {form.id: form for form in forms}
    rng = random.SystemRandom()
    created = 0
    per_form: dict[int, int] = {}
    for index, ticket in enumerate(tickets):
        if ticket.id in have:
            continue
        # Scheduling chose the form by seat (adjacent seats differ); otherwise forms alternate by ticket number.
        form = by_id.get(ticket.form_id) if ticket.form_id is not None else None
        form = form or forms[index % len(forms)]
        per_form[form.id] = per_form.get(form.id, 0) + 1
        seed = rng.randrange(1, 2**31 - 1)
        order, option_orders = candidate_order(form, seed)
        session.add(
            Attempt(
                ticket_id=ticket.id,
                session_id=exam_session.id,
                candidate_id=ticket.candidate_id,
                form_id=form.id,
                seed=seed,
                item_order=list(order),
                option_orders={str(k): v for k, v in option_orders.items()},
                remaining_s=float(exam_session.duration_s),
            )
        )
        created += 1
    session.flush()
    # Exposure: every candidate given a form sees each of its items once (assembly limits on it).
    for form_id, n in per_form.items():
        form_version_ids = select(FormItem.item_version_id).where(FormItem.form_id == form_id)
        session.execute(
            update(ItemVersion).where(ItemVersion.id.in_(form_version_ids))
            .values(exposure_count=ItemVersion.exposure_count + n)
        )
    audit(session, actor, "prepare_attempts", "exam_session", exam_session.id,
          after={"created": created, "per_form": {str(k): v for k, v in per_form.items()}})
    session.commit()
    return created


def check_in(session: Session, attempt: Attempt, actor: str) -> Attempt:
    """Admit the candidate to their seat (the proctor has confirmed identity)."""
    attempt = store.lock_attempt(session, attempt.id) or attempt
    if attempt.status != SCHEDULED:
        return attempt
    if attempt.ticket.status != "active":
        raise DeliveryError("withdrawn", f"准考证 {attempt.ticket.number} 已撤销，不能入场。")
    now = utcnow()
    move(session, attempt, "check_in", CHECKED_IN, actor, "checked_in", at=now)
    attempt.checked_in_at = now
    session.commit()
    return attempt

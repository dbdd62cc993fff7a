"""Read models of delivery: an attempt's clock and seat as one query reads them, and its acknowledged answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.timefmt import iso
from exam_server.delivery import store
from exam_server.delivery.models import Attempt


@dataclass
class AttemptState:
    """An attempt's clock, workstation and seat as one query reads them.

    Joining and starting are what a whole room does at once (the start of the sitting, everyone
    reconnecting after a server restart), so those paths read this instead of ORM objects.
    """

    id: int
    candidate_id: int
    status: str
    deadline_at: dt.datetime | None
    remaining_s: float
    workstation: str | None
    pending_workstation: str | None
    last_seq: int
    last_activity_at: dt.datetime | None
    answered_count: int
    started_at: dt.datetime | None
    duration_s: int
    starts_at: dt.datetime
    ticket: str
    seat: int | None
    room_id: int | None
    timing: str
    late_entry_min: int
    extra_time_s: int
    late_admitted_at: dt.datetime | None
    last_event_hash: str
    min_submit_min: int
    # Read only by a start (`start_state`): the sitting's seal and what the start's paper is rendered from.
    paper_sealed: bool = False
    form_id: int = 0
    item_order: list[Any] = field(default_factory=list)
    option_orders: dict[str, Any] = field(default_factory=dict)
    submit_reason: str = ""
    submit_note: str = ""
    misconduct_code: str = ""

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptState:
        """The state of an ORM attempt (the rarer proctor paths hold one already)."""
        seat = attempt.ticket.seat
        return cls(
            id=attempt.id, candidate_id=attempt.candidate_id, status=attempt.status, deadline_at=attempt.deadline_at,
            remaining_s=attempt.remaining_s, workstation=attempt.workstation,
            pending_workstation=attempt.pending_workstation, last_seq=attempt.last_seq,
            last_activity_at=attempt.last_activity_at, answered_count=attempt.answered_count,
            started_at=attempt.started_at, duration_s=attempt.session.duration_s,
            starts_at=attempt.session.starts_at, ticket=attempt.ticket.number,
            seat=seat.number if seat else None, room_id=seat.room_id if seat else None,
            timing=attempt.session.timing, late_entry_min=attempt.session.late_entry_min,
            extra_time_s=attempt.ticket.extra_time_s, late_admitted_at=attempt.late_admitted_at,
            last_event_hash=attempt.last_event_hash, min_submit_min=attempt.session.min_submit_min,
            paper_sealed=bool(attempt.session.paper_sealed), form_id=attempt.form_id,
            item_order=list(attempt.item_order or []), option_orders=dict(attempt.option_orders or {}),
            submit_reason=attempt.submit_reason or "", submit_note=attempt.submit_note or "",
            misconduct_code=attempt.misconduct_code or "",
        )


def attempt_state(session: Session, attempt_id: int, *, lock: bool = False) -> AttemptState | None:
    """The state of attempt `attempt_id`, its row locked for this transaction on PostgreSQL if `lock`."""
    row = store.state_row(session, attempt_id, lock=lock)
    return AttemptState(**row._asdict()) if row is not None else None


def start_state(session: Session, attempt_id: int) -> AttemptState | None:
    """`attempt_state` (locked) with the paper's columns and the sitting's seal: what a start reads."""
    row = store.start_state_row(session, attempt_id)
    return AttemptState(**row._asdict()) if row is not None else None


def answers_of(session: Session, attempt_id: int) -> tuple[dict[str, Any], list[int]]:
    """The acknowledged answers {item_id: {value, seq, saved_at}} and the flagged item ids."""
    answers: dict[str, Any] = {}
    flags: list[int] = []
    for r in store.answer_rows(session, attempt_id):
        if r.seq:
            answers[str(r.item_version_id)] = {"value": r.value, "seq": r.seq, "saved_at": iso(r.saved_at)}
        if r.flagged:
            flags.append(r.item_version_id)
    return answers, sorted(flags)

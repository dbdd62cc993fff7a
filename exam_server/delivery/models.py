"""Attempts, their current responses, and the append-only log of every step taken in them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.sessions.models import Candidate, ExamSession, Ticket
from item_bank.db import Base, utcnow
from item_bank.models import Form

SCHEDULED, CHECKED_IN, IN_PROGRESS, PAUSED = "scheduled", "checked_in", "in_progress", "paused"
SUBMITTED, SCORED, FINALISED = "submitted", "scored", "finalised"
# Admitted and not yet submitted (a workstation may hold it); submitted, whether scored yet or not.
ACTIVE = (CHECKED_IN, IN_PROGRESS, PAUSED)
DONE = (SUBMITTED, SCORED, FINALISED)


class Attempt(Base):
    """One candidate sitting one form in one session (作答记录).

    The form, item order and option order are fixed when the attempt is created, before the
    session opens, so starting is a read. Time is owned here: `deadline_at` while running,
    `remaining_s` while paused or not yet started.
    """

    __tablename__ = "attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id"))
    status: Mapped[str] = mapped_column(String(20), default=SCHEDULED, index=True)
    seed: Mapped[int] = mapped_column(Integer)
    # Item version ids in the candidate's order, and per item the option letters in display order.
    item_order: Mapped[list[Any]] = mapped_column(default=list)
    option_orders: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remaining_s: Mapped[float] = mapped_column(Float)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The proctor let the candidate start after the late-entry cut-off (the reason is in the event log).
    late_admitted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    submit_reason: Mapped[str] = mapped_column(String(40), default="")
    # A proctor's force-submit: the reason they gave and, for misconduct (违纪), its code from
    # delivery/misconduct.json, so the candidate, the proctor's log and the results list all say why.
    submit_note: Mapped[str] = mapped_column(String(300), default="", server_default="")
    misconduct_code: Mapped[str] = mapped_column(String(20), default="", server_default="")
    # The workstation (a random token kept by the browser) allowed to answer; a second one waits
    # in `pending_workstation` until the proctor allows the move.
    workstation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pending_workstation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    answered_count: Mapped[int] = mapped_column(Integer, default=0)
    # The newest event's hash (delivery/chain.py): a step extends the chain from here without a query, and a
    # log whose end was cut off no longer reaches it.
    last_event_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    session: Mapped[ExamSession] = relationship()
    candidate: Mapped[Candidate] = relationship()
    ticket: Mapped[Ticket] = relationship()
    form: Mapped[Form] = relationship()


class Response(Base):
    """The answer to one item in an attempt as it stands now: the save with the highest seq.

    Every save that produced it is kept as an `AttemptEvent`.
    """

    __tablename__ = "response"
    __table_args__ = (UniqueConstraint("attempt_id", "item_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    saved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    flagged: Mapped[bool] = mapped_column(default=False)
    flag_seq: Mapped[int] = mapped_column(Integer, default=0)


class AttemptEvent(Base):
    """One step of an attempt's append-only log: a save, a flag, a start, a pause, an incident ...

    `key` is the client's idempotency key and `ack` the acknowledgement it got, so a resend
    returns the same answer without applying anything twice.
    """

    __tablename__ = "attempt_event"
    __table_args__ = (
        UniqueConstraint("attempt_id", "key"),
        Index("ix_attempt_event_attempt_id_id", "attempt_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(120), default="candidate")
    item_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ack: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The hash chain (delivery/chain.py): the previous event's hash and this one's over it and this event.
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

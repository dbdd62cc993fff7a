"""Sittings and places: exam sessions, sites, rooms, seats, candidates and their admission tickets."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.organisations.models import Centre
from item_bank.db import Base, utcnow
from item_bank.models import Blueprint, Form


class Site(Base):
    """A test site (考点), an offline LAN with its rooms."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(60), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    # The assessment centre the site belongs to (its staff see and run it); None for a site from before
    # organisations (organisations/scope.py says who sees those).
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), nullable=True, index=True)
    # The national exam site filing number (上机考试点备案编号).
    filing_number: Mapped[str] = mapped_column(String(60), default="", server_default="")

    centre: Mapped[Centre | None] = relationship(Centre, foreign_keys=[centre_id])
    rooms: Mapped[list[Room]] = relationship(back_populates="site", order_by="Room.code")


class Room(Base):
    """An exam room (考场) of a site."""

    __tablename__ = "room"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))

    site: Mapped[Site] = relationship(back_populates="rooms")
    seats: Mapped[list[Seat]] = relationship(back_populates="room", order_by="Seat.number")


class Seat(Base):
    """A seat (座位) of a room."""

    __tablename__ = "seat"
    __table_args__ = (UniqueConstraint("room_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("room.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)

    room: Mapped[Room] = relationship(back_populates="seats")


TIMING_COMMON, TIMING_OWN_START = "common", "own_start"
TIMINGS = {TIMING_COMMON: "统一结束（所有考生在场次结束时间交卷）", TIMING_OWN_START: "各自计时（从本人开始答题起计满考试时长）"}


class ExamSession(Base):
    """One sitting (考试场次): a level and part, its forms, start time and duration."""

    __tablename__ = "exam_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(20))
    blueprint_id: Mapped[int] = mapped_column(ForeignKey("blueprint.id"))
    starts_at: Mapped[dt.datetime] = mapped_column()
    duration_s: Mapped[int] = mapped_column(Integer)
    # scheduled → open → closed; results released as a batch.
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    # The sitting's rules (DESIGN.md §1), printed on the ticket from these columns and enforced by delivery:
    # "common": everyone ends at starts_at + duration_s; "own_start": each gets duration_s from their own start.
    timing: Mapped[str] = mapped_column(String(20), default=TIMING_COMMON, server_default=TIMING_COMMON)
    late_entry_min: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    min_submit_min: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    # The initial password on a separate slip (密码条) rather than on the ticket itself.
    password_slip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # At a test site running an imported package: the paper is still sealed (its items are placeholders until the
    # centre's release code is entered, sitenode/package.py), so no candidate may start.
    paper_sealed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    results_released_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The assessment centre that runs the sitting (organisations/scope.py); None for one from before organisations.
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), nullable=True, index=True)

    blueprint: Mapped[Blueprint] = relationship()
    forms: Mapped[list[SessionForm]] = relationship(back_populates="session", order_by="SessionForm.id")
    rooms: Mapped[list[SessionRoom]] = relationship(back_populates="session", order_by="SessionRoom.id")

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(seconds=self.duration_s)


class SessionRoom(Base):
    """A room the sitting uses (its seats are scheduled in the order the rooms were given)."""

    __tablename__ = "session_room"
    __table_args__ = (UniqueConstraint("session_id", "room_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("room.id"))

    session: Mapped[ExamSession] = relationship(back_populates="rooms")
    room: Mapped[Room] = relationship()


class SessionExemption(Base):
    """An approved applicant left out of a theory sitting because they are exempt (理论知识免试), with the reason."""

    __tablename__ = "session_exemption"
    __table_args__ = (UniqueConstraint("session_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"))
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    candidate: Mapped[Candidate] = relationship()


class SessionForm(Base):
    """A locked form assigned to a session (parallel forms are spread over candidates)."""

    __tablename__ = "session_form"
    __table_args__ = (UniqueConstraint("session_id", "form_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id"))

    session: Mapped[ExamSession] = relationship(back_populates="forms")
    form: Mapped[Form] = relationship()


class Candidate(Base):
    """A person assessed (考生), identified by their ID number, holding a 保安员证."""

    __tablename__ = "candidate"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    guard_cert_no: Mapped[str] = mapped_column(String(40))
    guard_cert_date: Mapped[dt.date] = mapped_column(Date)
    employer: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """An admission ticket (准考证): number, session, seat, and the candidate's login credential."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("session_id", "candidate_id"),
        UniqueConstraint("session_id", "seat_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("seat.id"), nullable=True)
    # The argon2 hash once the candidate has logged in (or after a reset); until then the initial password is only
    # held sealed with a key derived from SECRET_KEY, for printing (sessions/credentials.py).
    password_hash: Mapped[str] = mapped_column(String(200))
    password_sealed: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password_issued_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    first_login_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The parallel form of the ticket's seat (adjacent seats get different forms); None: prepare_attempts picks.
    form_id: Mapped[int | None] = mapped_column(ForeignKey("form.id"), nullable=True)
    # The approved application the ticket was scheduled from (applications domain), if any.
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # "active" or "withdrawn" (撤销): a withdrawn ticket cannot log in and holds no seat.
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    # Accommodations (特殊安排), entered before the sitting with a reason.
    extra_time_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    separate_room: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accommodation_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The epoch of the candidate's login sessions: logging out raises it and so ends every copy of the
    # session cookie, on HTTP and on the exam socket (core/auth.py, delivery/events.py).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    session: Mapped[ExamSession] = relationship()
    candidate: Mapped[Candidate] = relationship()
    seat: Mapped[Seat | None] = relationship()

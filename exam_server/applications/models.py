"""Application windows, applications (鉴定申请), ID photos, the units' application links and the eligibility rules.

An `Application` carries the person's own data as given (name, ID number, 保安员证 …): it is a request, and the
sittings package makes a `Candidate` of it when it is scheduled. Its `decisions` are the eligibility rules' records
(rule, parameters, facts, outcome, words); `theory_exempt` is the level-5 exemption they decided.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.organisations.models import PilotUnit
from item_bank.db import Base, utcnow

# Statuses (the review lifecycle, applications/review.py).
SUBMITTED = "submitted"
UNIT_APPROVED = "unit_approved"
UNIT_REJECTED = "unit_rejected"
CENTRE_APPROVED = "centre_approved"
CENTRE_REJECTED = "centre_rejected"
TICKETED = "ticketed"
REJECTED = (UNIT_REJECTED, CENTRE_REJECTED)

CHANNELS = {"screen": "单位录入", "import": "单位批量导入", "link": "考生通过单位链接申请"}


class ApplicationWindow(Base):
    """When a level's part takes applications (申报时间): from `opens_on` to `closes_on`, both days included
    (Beijing dates); `exam_on` is the planned sitting date the exemption is judged on until one is scheduled."""

    __tablename__ = "application_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(Integer, index=True)
    part: Mapped[str] = mapped_column(String(20))
    opens_on: Mapped[dt.date] = mapped_column(Date)
    closes_on: Mapped[dt.date] = mapped_column(Date)
    exam_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def judged_on(self) -> dt.date:
        return self.exam_on or self.closes_on


class ApplicantPhoto(Base):
    """An applicant's ID photo (证件照): a checked JPEG or PNG, stored once per content."""

    __tablename__ = "applicant_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    mime: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Application(Base):
    """One person's request to be assessed at a level, through a unit; reviewed twice (初审, 复审)."""

    __tablename__ = "application"
    __table_args__ = (
        Index("ix_application_person_level", "id_number", "level"),
        Index("ix_application_unit_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    id_number: Mapped[str] = mapped_column(String(18))
    sex: Mapped[str] = mapped_column(String(4))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(20), default="")
    employer: Mapped[str] = mapped_column(String(200), default="")
    guard_cert_no: Mapped[str] = mapped_column(String(40))
    guard_cert_date: Mapped[dt.date] = mapped_column(Date)
    prior_cert_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prior_cert_no: Mapped[str] = mapped_column(String(40), default="")
    prior_cert_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    years_in_trade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level: Mapped[int] = mapped_column(Integer)
    # The parts applied for: those whose window was open that day, less a theory exemption.
    parts: Mapped[list[Any]] = mapped_column(default=list)
    window_id: Mapped[int] = mapped_column(ForeignKey("application_window.id"), index=True)
    # The unit that presents the person (and does 初审); the training unit the person names (培训单位).
    unit_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    training_unit_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), default=SUBMITTED, index=True)
    decisions: Mapped[list[Any]] = mapped_column(default=list)
    theory_exempt: Mapped[bool] = mapped_column(default=False)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("applicant_photo.id"), nullable=True)
    unit_reason: Mapped[str] = mapped_column(Text, default="")
    unit_reviewed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    unit_reviewed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    centre_reason: Mapped[str] = mapped_column(Text, default="")
    centre_reviewed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    centre_reviewed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # A new application after a rejection names the one it follows (which stays as it was).
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    unit: Mapped[PilotUnit] = relationship(PilotUnit, foreign_keys=[unit_id])
    training_unit: Mapped[PilotUnit] = relationship(PilotUnit, foreign_keys=[training_unit_id])
    window: Mapped[ApplicationWindow] = relationship()
    photo: Mapped[ApplicantPhoto | None] = relationship()


class UnitApplicationLink(Base):
    """The token of a unit's public application page (/apply/<token>): whoever has it may apply through the unit."""

    __tablename__ = "unit_application_link"
    __table_args__ = (UniqueConstraint("unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    unit: Mapped[PilotUnit] = relationship(PilotUnit)


class EligibilityRuleSet(Base):
    """A level's eligibility rules as staff saved them (applications/eligibility.py; defaults until then)."""

    __tablename__ = "eligibility_rule_set"

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

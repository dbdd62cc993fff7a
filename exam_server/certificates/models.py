"""Certificates (职业资格证书): the codes the national number is made of, the per-institution counters, and
the certificates themselves.

The number (16 digits) is year (2) · province (2) · city (2) · institution type (1) · institution serial (3) ·
level (1) · serial per institution, level and year (5). The codes are data (`CertificateCode`, one row per
organisation: a province's and a city's 2-digit code, a centre's type and 3-digit serial, the province's
issuing department), never constants in code: a province renumbers by editing rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.sessions.models import Candidate
from item_bank.db import Base, utcnow

VALID, REVOKED, REPLACED = "valid", "revoked", "replaced"
STATUS_LABELS = {VALID: "有效", REVOKED: "已撤销", REPLACED: "已作废（已补发新证）"}

# The national institution types (鉴定机构类别), the number's 7th digit.
INSTITUTION_TYPES = {0: "职业技能鉴定中心", 1: "职业技能鉴定所（站）", 2: "行业鉴定机构", 3: "院校", 4: "企业"}


class CertificateCode(Base):
    """The certificate codes of one organisation: `code` is 2 digits for a province or a city, 3 digits (the
    institution serial) for a centre; `institution_type` only for a centre; `issuer` (发证机关, the province's
    human resources department) only for a province."""

    __tablename__ = "certificate_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    code: Mapped[str] = mapped_column(String(3))
    institution_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issuer: Mapped[str] = mapped_column(String(200), default="")


class CertificateCounter(Base):
    """The last serial given per institution, level and year. Issuing locks this row (FOR UPDATE on
    PostgreSQL; on SQLite the write lock taken at BEGIN IMMEDIATE), so concurrent issues never share or skip one."""

    __tablename__ = "certificate_counter"
    __table_args__ = (UniqueConstraint("centre_id", "level", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    level: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Certificate(Base):
    """One certificate as printed: what it says is copied from the level outcome when issued, so the print and
    the verification page never change if the person's record does later."""

    __tablename__ = "certificate"
    __table_args__ = (UniqueConstraint("number"), UniqueConstraint("code"))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16))
    # The verification code the QR code carries (random, not derivable from the number).
    code: Mapped[str] = mapped_column(String(20))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    # The stored level outcome the certificate was issued from (results.LevelOutcome), if any.
    outcome_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    sitting_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), nullable=True, index=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    id_number: Mapped[str] = mapped_column(String(18))
    theory_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    theory_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    skill_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issuer: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=VALID, index=True)
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    # A reissue (补发) names the certificate it replaces, which stays, marked replaced.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    candidate: Mapped[Candidate] = relationship()

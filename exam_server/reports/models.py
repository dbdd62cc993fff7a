"""What the province keeps of the centres' reports: each centre's registered public key, and each signed
period file it imported (the figures themselves, as the centre signed them).

The figures of the province's own database are never stored: a report is computed from the stored level
outcomes, attempts and results when asked (reports/figures.py). Only what arrives from outside is kept.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.organisations.models import Centre
from item_bank.db import Base, utcnow


class CentreReportKey(Base):
    """A centre's Ed25519 public key as registered at the province (one current key per centre: registering a new
    one replaces it; the old stays, inactive, so an audit can still tell which key signed an old file)."""

    __tablename__ = "centre_report_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # The raw 32-byte public key, base64.
    public_key: Mapped[str] = mapped_column(String(64))
    # sha256 of the raw key, hex, first 16 characters: what files and screens name the key by.
    fingerprint: Mapped[str] = mapped_column(String(16), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    registered_by: Mapped[str] = mapped_column(String(120))
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    centre: Mapped[Centre] = relationship(Centre)


class CentreReportImport(Base):
    """One signed period file of a centre, verified and imported by the province. The same file again changes
    nothing (its digest is unique); a different file of the same centre and period supersedes the earlier one,
    which stays."""

    __tablename__ = "centre_report_import"
    __table_args__ = (UniqueConstraint("digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("centre_report_key.id"))
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    # sha256 of the signed payload, hex.
    digest: Mapped[str] = mapped_column(String(64))
    # The payload as signed (JSON text), so the signature can be checked again at any time.
    payload: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    exported_at: Mapped[str] = mapped_column(String(40), default="")
    file_name: Mapped[str] = mapped_column(String(200), default="")
    superseded: Mapped[bool] = mapped_column(default=False, index=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("centre_report_import.id"), nullable=True)
    imported_by: Mapped[str] = mapped_column(String(120))
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    centre: Mapped[Centre] = relationship(Centre)
    key: Mapped[CentreReportKey] = relationship()

    @property
    def figures(self) -> dict[str, Any]:
        return json.loads(self.payload)

"""Tables of the offline-node exchange: the public keys a node trusts, the sitting packages a centre made and a
site imported, and the ID photos a package brought for check-in.

A centre registers each site's key (`kind` "site", `code` the site's code); a site registers its centre's key
(`kind` "centre"). A key is never deleted: rotation or loss revokes it (`revoked_at`) and registers another.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from item_bank.db import Base, utcnow

KIND_SITE, KIND_CENTRE = "site", "centre"


class TrustedKey(Base):
    """A public key this node accepts signatures from: a site's (at the centre) or the centre's (at a site)."""

    __tablename__ = "trusted_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(40), index=True)
    public_key: Mapped[str] = mapped_column(String(100), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(40))
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(120))
    # Signatures made after this moment are refused (a lost or rotated key); None: in force.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SittingExport(Base):
    """At the centre: the paper key of one sitting sent to one site. The same key serves every package of the pair,
    so the release code read out on the day unlocks whichever package the site imported."""

    __tablename__ = "sitting_export"
    __table_args__ = (UniqueConstraint("session_id", "site_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    site_code: Mapped[str] = mapped_column(String(40))
    # The release secret (Crockford base32, no check characters); the centre's database holds the items anyway.
    release_secret: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    last_package_id: Mapped[str] = mapped_column(String(40), default="")
    last_exported_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SittingImport(Base):
    """At a site: a sitting package imported, with its sealed paper kept until the release code opens it."""

    __tablename__ = "sitting_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[str] = mapped_column(String(40), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    site_code: Mapped[str] = mapped_column(String(40))
    centre_fingerprint: Mapped[str] = mapped_column(String(40))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # nonce + AES-256-GCM ciphertext of the paper (items, item sets, media); erased once unsealed.
    sealed_paper: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(120))
    unsealed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    unsealed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


class TicketPhoto(Base):
    """At a site: a candidate's ID photo for check-in, by ticket (the applications it came from stay at the centre)."""

    __tablename__ = "ticket_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)

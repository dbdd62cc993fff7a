"""People who log in, and login throttling."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from item_bank.db import Base, utcnow

ROLES = (
    "author",
    "reviewer",
    "bank_manager",
    "pilot_unit",
    "centre_staff",
    "proctor",
    "grader",
    "chief_grader",
    "admin",
    # A provincial account (省级): every organisation's data, may act on it.
    "province",
    # The public-security department (治安部门): every organisation's data, read-only.
    "police",
)


class User(Base):
    """A staff account (命题人, 监考员, 阅卷员, 鉴定中心 ...); candidates log in with their ticket instead."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    # Scope of a proctor (a room) or a pilot-unit account; None = no restriction by place.
    room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"), nullable=True)
    # The organisation the account belongs to (a centre, a pilot unit or the province; organisations/models.py),
    # which decides what it sees (organisations/scope.py scope_for). None: an account from before
    # organisations, or one whose work is not bound to a place (authors, graders); see scope_for.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), nullable=True, index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Every login session carries the epoch it began in; raising it (logout, a new password, disabling the
    # account, new roles) ends every copy of every earlier session at its next request (core/auth.py).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


class LoginThrottle(Base):
    """Failed logins per key (an account, or a client address), kept in the database so every process sees them.

    A key with enough recent failures must wait until `blocked_until` before its next try (core/security.py).
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The first failure of the current run of failures (a quiet spell starts a new run).
    window_start: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)

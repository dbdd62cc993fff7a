"""Results (成绩): a candidate's score on a part, superseded (never overwritten) by a re-score."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.sessions.models import Candidate
from item_bank.db import Base, utcnow

PROVISIONAL, RELEASED = "provisional", "released"


class Result(Base):
    """A candidate's score on one part of a level, from one attempt (or an exemption)."""

    __tablename__ = "result"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), nullable=True, index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id"), nullable=True, index=True)
    level: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(20))
    # None when the part is exempt (理论知识免试): an exemption is never a score.
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    points: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool] = mapped_column(default=False)
    exempt: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default=PROVISIONAL)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("result.id"), nullable=True)
    superseded: Mapped[bool] = mapped_column(default=False)
    # Points per item version id, so a result can be explained and compared after a rescore.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    candidate: Mapped[Candidate] = relationship()

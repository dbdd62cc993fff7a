"""Results (成绩): a candidate's score on a part, superseded (never overwritten) by a re-score."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
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
    # Why this row exists ("评分", "更正答案后重新评分：…", "复核 #3 …"), and how a score that is not a
    # plain sum was made (the thesis and defence parts and their weights, the exemption's dates).
    reason: Mapped[str] = mapped_column(String(500), default="")
    basis: Mapped[dict[str, Any]] = mapped_column(default=dict)

    candidate: Mapped[Candidate] = relationship()


class KeyCorrection(Base):
    """A key correction for one sitting: responses to `old_version_id` are scored with the key of
    `new_version_id` (a newer version of the same item). Scoring always applies a session's corrections,
    so every result stays reproducible from stored data."""

    __tablename__ = "key_correction"
    __table_args__ = (UniqueConstraint("session_id", "old_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    old_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    new_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# Review (复核) lifecycle: submitted → regrading → done, or submitted → done / rejected.
REVIEW_SUBMITTED, REVIEW_REGRADING, REVIEW_DONE, REVIEW_REJECTED = "submitted", "regrading", "done", "rejected"


class ReviewRequest(Base):
    """A candidate's request to have a released result checked again (成绩复核)."""

    __tablename__ = "review_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("result.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=REVIEW_SUBMITTED, index=True)
    # "rescore" (核分: recount from stored responses and marks) or "regrade" (重新评阅 by new graders).
    action: Mapped[str] = mapped_column(String(20), default="")
    outcome_result_id: Mapped[int | None] = mapped_column(ForeignKey("result.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str] = mapped_column(String(120), default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    result: Mapped[Result] = relationship(foreign_keys=[result_id])

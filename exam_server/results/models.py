"""Results (成绩): a candidate's score on a part, superseded (never overwritten) by a re-score."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
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


class LevelOutcome(Base):
    """A candidate's stored level outcome (等级结果): theory, skill, exemption, pass/fail and date.

    Recomputed from the current part results whenever one of them changes (results/outcomes.py); a different
    outcome is a new row superseding the old, which stays with its reason and actor, so a certificate can
    always name the outcome it was issued on. Levels 2-1 keep their written paper in the theory columns and
    their thesis-and-defence part in the skill columns (the two parts DESIGN.md §1 lists for them).
    """

    __tablename__ = "level_outcome"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    # True: every required part passed (an exempt part counts as passed); False: a part failed or is missing.
    passed: Mapped[bool] = mapped_column(default=False)
    # Every required part has a result (or an exemption).
    complete: Mapped[bool] = mapped_column(default=False)
    theory_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    theory_exempt: Mapped[bool] = mapped_column(default=False)
    theory_result_id: Mapped[int | None] = mapped_column(ForeignKey("result.id"), nullable=True)
    theory_session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), nullable=True, index=True)
    skill_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    skill_result_id: Mapped[int | None] = mapped_column(ForeignKey("result.id"), nullable=True)
    skill_session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), nullable=True, index=True)
    # Every part result it counts is released to the candidate (a certificate waits for this).
    released: Mapped[bool] = mapped_column(default=False)
    # The exam date (Beijing) of the latest sitting whose part it counts: the day the level was attained.
    outcome_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # Per required part: {"score", "exempt", "passed", "status", "result_id", "session_id"}; and the reasons.
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("level_outcome.id"), nullable=True)
    superseded: Mapped[bool] = mapped_column(default=False, index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    candidate: Mapped[Candidate] = relationship()

    @property
    def state(self) -> str:
        """"passed", "failed" (a part failed, even while another is missing) or "pending"."""
        if self.passed:
            return "passed"
        statuses = {p.get("status") for p in (self.parts or {}).get("parts", {}).values()}
        return "failed" if "failed" in statuses else "pending"

    @property
    def reasons(self) -> list[str]:
        return list((self.parts or {}).get("reasons", []))

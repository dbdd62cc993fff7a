"""Tables of people's grading: rubrics, grading tasks, who is assigned to them, their marks,
defence panels, and the documents graders read (scanned paper answers, theses).

A task is one judgement about one candidate's work. Graders only ever see its `code`; the
candidate behind it is known to the server (and the chief grader's reports), never to the screen.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from item_bank.db import Base, utcnow

# Task lifecycle (DESIGN.md §4); the allowed transitions live in exam_server.grading.states.
PENDING, ASSIGNED, MARKED, AGREED, NEEDS_ADJUDICATION, FINAL = (
    "pending", "assigned", "marked", "agreed", "needs_adjudication", "final",
)
TASK_STATUSES = (PENDING, ASSIGNED, MARKED, AGREED, NEEDS_ADJUDICATION, FINAL)

# What a task is about.
ITEM, SCAN, THESIS, DEFENCE = "item", "scan", "thesis", "defence"
TASK_KINDS = (ITEM, SCAN, THESIS, DEFENCE)

# Assignment roles and states.
MARKER, PANEL_MEMBER = "marker", "panel"
OPEN, DONE, WITHDRAWN = "open", "done", "withdrawn"

# Mark kinds: a grader's independent mark, the chief grader's adjudication, a panel member's score.
INDEPENDENT, ADJUDICATION, PANEL = "independent", "adjudication", "panel"


class Rubric(Base):
    """A scoring rubric stored as data: the criteria of the thesis or the defence of one level.

    Rubrics are never edited once used; a change is a new row with a higher `version`.
    """

    __tablename__ = "grading_rubric"
    __table_args__ = (UniqueConstraint("level", "part", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    # "thesis" or "defence"
    part: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    # [{"criterion": "选题与结构", "points": 20, "guide": "..."}]
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    max_points: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GradingDocument(Base):
    """A file graders read: one scanned page set of a paper answer sheet, or a candidate's thesis.

    Kept in the database (like item media) so every worker sees it; its original file name is kept
    for staff only because it may carry the candidate's name.
    """

    __tablename__ = "grading_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    # "scan" or "thesis"
    kind: Mapped[str] = mapped_column(String(20))
    page: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300), default="")
    original_name: Mapped[str] = mapped_column(String(300), default="")
    mime: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Panel(Base):
    """A defence panel (答辩小组) of 3-5 examiners, one of whom chairs and confirms its scores."""

    __tablename__ = "grading_panel"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    chair_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    members: Mapped[list[PanelMember]] = relationship(back_populates="panel", order_by="PanelMember.position")


class PanelMember(Base):
    __tablename__ = "grading_panel_member"
    __table_args__ = (UniqueConstraint("panel_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("grading_panel.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    panel: Mapped[Panel] = relationship(back_populates="members")


class GradingTask(Base):
    """One human judgement to make (阅卷任务): an essay or short answer, a scanned answer, a thesis, a defence.

    The rules it is finished by (tolerance, final-mark rule, panel rule) are copied from the blueprint
    when the task is created, so its final mark can always be recomputed from its own marks.
    """

    __tablename__ = "grading_task"
    __table_args__ = (
        Index("ix_grading_task_session_status", "session_id", "status"),
        Index("ix_grading_task_attempt", "attempt_id", "item_version_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The anonymous code graders see (e.g. "K7QM-3XRA"); nothing else identifies the candidate.
    code: Mapped[str] = mapped_column(String(20), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id"), nullable=True)
    level: Mapped[int] = mapped_column(Integer)
    # The result part this task counts towards ("written", "skill", "defence" ...).
    part: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    item_version_id: Mapped[int | None] = mapped_column(ForeignKey("item_version.id"), nullable=True)
    rubric_id: Mapped[int | None] = mapped_column(ForeignKey("grading_rubric.id"), nullable=True)
    panel_id: Mapped[int | None] = mapped_column(ForeignKey("grading_panel.id"), nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    max_points: Mapped[float] = mapped_column(Float)
    tolerance: Mapped[float] = mapped_column(Float, default=0.0)
    # "mean" | "adjudicated" for double-marked tasks; "mean" | "trimmed_mean" for panels.
    final_rule: Mapped[str] = mapped_column(String(20), default="mean")
    status: Mapped[str] = mapped_column(String(30), default=PENDING)
    final_mark: Mapped[float | None] = mapped_column(Float, nullable=True)
    # A review (复核) re-grade makes a new round; the earlier task stays, marked superseded.
    round: Mapped[int] = mapped_column(Integer, default=1)
    superseded: Mapped[bool] = mapped_column(default=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("grading_task.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finalised_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    rubric: Mapped[Rubric | None] = relationship()
    panel: Mapped[Panel | None] = relationship()
    assignments: Mapped[list[GradingAssignment]] = relationship(
        back_populates="task", order_by="GradingAssignment.id"
    )
    marks: Mapped[list[Mark]] = relationship(back_populates="task", order_by="Mark.id")

    @property
    def is_panel(self) -> bool:
        return self.kind == DEFENCE


class GradingAssignment(Base):
    """A grader (or panel member) asked to mark a task; withdrawn, never deleted, on reassignment."""

    __tablename__ = "grading_assignment"
    __table_args__ = (Index("ix_grading_assignment_grader_status", "grader_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("grading_task.id"), index=True)
    grader_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    role: Mapped[str] = mapped_column(String(20), default=MARKER)
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    assigned_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    task: Mapped[GradingTask] = relationship(back_populates="assignments")


class Mark(Base):
    """One person's submitted score on a task (评分): per-criterion points, total and comment.

    Marks are only ever inserted: a grader submits once, and a re-grade is a new task.
    """

    __tablename__ = "grading_mark"
    __table_args__ = (UniqueConstraint("task_id", "grader_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("grading_task.id"), index=True)
    grader_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default=INDEPENDENT)
    total: Mapped[float] = mapped_column(Float)
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    task: Mapped[GradingTask] = relationship(back_populates="marks")

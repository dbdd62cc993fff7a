"""A job: one piece of long work (an import, an export, an assembly ...) run by the worker process, and its lifecycle."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from item_bank.db import Base, utcnow
from item_bank.kernel import DomainError, StateMachine, TransitionRefused

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATUS_LABELS = {QUEUED: "排队中", RUNNING: "进行中", DONE: "已完成", FAILED: "失败", CANCELLED: "已取消"}
FINISHED = frozenset({DONE, FAILED, CANCELLED})

# (from, to) -> the actions that may take it. A running job is cancelled by the worker once its handler has
# noticed the request (`cancel_requested_at`), so the handler's half-done work is rolled back first.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (QUEUED, RUNNING): frozenset({"start"}),
    (QUEUED, CANCELLED): frozenset({"cancel"}),
    (QUEUED, FAILED): frozenset({"fail"}),  # the queue could not take it
    (RUNNING, DONE): frozenset({"finish"}),
    (RUNNING, FAILED): frozenset({"fail"}),
    (RUNNING, CANCELLED): frozenset({"cancel"}),
}
ACTION_LABELS = {"start": "开始", "cancel": "取消", "fail": "标记失败", "finish": "完成"}


class JobRefused(DomainError):
    """A job that cannot be submitted, read or cancelled as asked."""

    default_code = "job_refused"
    default_status = 409


class JobTransitionRefused(TransitionRefused):
    default_code = "job_refused"


LIFECYCLE = StateMachine(
    "任务",
    TRANSITIONS,
    entity="job",
    state_labels=STATUS_LABELS,
    action_labels=ACTION_LABELS,
    error=JobTransitionRefused,
)


class Job(Base):
    """One background job: what to do (`kind`, `params`), how far it got, and what came of it.

    `result` is the handler's JSON summary; `result_file` the name of its downloadable file inside the
    job's own folder (JOBS_DIR/<id>/). `created_by` is an actor string (`user:wang`, `cli:ops`).
    """

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED, index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(default=0.0)
    progress_message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result_file: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(120), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

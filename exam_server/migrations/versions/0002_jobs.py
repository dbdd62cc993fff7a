"""jobs: the background work the worker process runs (exam_server/jobs)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 11:52:34.466549
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("progress_message", sa.String(length=500), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("result_file", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_status"))
        batch_op.drop_index(batch_op.f("ix_job_kind"))
        batch_op.drop_index(batch_op.f("ix_job_created_by"))
        batch_op.drop_index(batch_op.f("ix_job_created_at"))
    op.drop_table("job")

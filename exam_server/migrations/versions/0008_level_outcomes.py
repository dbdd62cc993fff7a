"""level outcomes stored with their history; a force-submit's reason and misconduct code on the attempt

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "level_outcome",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("theory_score", sa.Float(), nullable=True),
        sa.Column("theory_exempt", sa.Boolean(), nullable=False),
        sa.Column("theory_result_id", sa.Integer(), nullable=True),
        sa.Column("theory_session_id", sa.Integer(), nullable=True),
        sa.Column("skill_score", sa.Float(), nullable=True),
        sa.Column("skill_result_id", sa.Integer(), nullable=True),
        sa.Column("skill_session_id", sa.Integer(), nullable=True),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("outcome_date", sa.Date(), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"], name=op.f("fk_level_outcome_candidate_id_candidate")),
        sa.ForeignKeyConstraint(["theory_result_id"], ["result.id"],
                                name=op.f("fk_level_outcome_theory_result_id_result")),
        sa.ForeignKeyConstraint(["theory_session_id"], ["exam_session.id"],
                                name=op.f("fk_level_outcome_theory_session_id_exam_session")),
        sa.ForeignKeyConstraint(["skill_result_id"], ["result.id"], name=op.f("fk_level_outcome_skill_result_id_result")),
        sa.ForeignKeyConstraint(["skill_session_id"], ["exam_session.id"],
                                name=op.f("fk_level_outcome_skill_session_id_exam_session")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["level_outcome.id"],
                                name=op.f("fk_level_outcome_supersedes_id_level_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_level_outcome")),
    )
    with op.batch_alter_table("level_outcome", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_level_outcome_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_level_outcome_theory_session_id"), ["theory_session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_level_outcome_skill_session_id"), ["skill_session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_level_outcome_superseded"), ["superseded"], unique=False)
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submit_note", sa.String(length=300), server_default="", nullable=False))
        batch_op.add_column(sa.Column("misconduct_code", sa.String(length=20), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.drop_column("misconduct_code")
        batch_op.drop_column("submit_note")
    with op.batch_alter_table("level_outcome", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_level_outcome_superseded"))
        batch_op.drop_index(batch_op.f("ix_level_outcome_skill_session_id"))
        batch_op.drop_index(batch_op.f("ix_level_outcome_theory_session_id"))
        batch_op.drop_index(batch_op.f("ix_level_outcome_candidate_id"))
    op.drop_table("level_outcome")

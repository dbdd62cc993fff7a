"""skill assessment: stations with score sheets, a skill sitting's stations and examiners, marks, station scores

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "skill_station",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("tolerance", sa.Float(), nullable=False),
        sa.Column("mark_step", sa.Float(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("max_points", sa.Float(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["knowledge_area.id"], name=op.f("fk_skill_station_area_id_knowledge_area")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_station")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_skill_station_code_version")),
    )
    with op.batch_alter_table("skill_station", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skill_station_code"), ["code"], unique=False)
    op.create_table(
        "skill_sitting_station",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"],
                                name=op.f("fk_skill_sitting_station_session_id_exam_session")),
        sa.ForeignKeyConstraint(["station_id"], ["skill_station.id"],
                                name=op.f("fk_skill_sitting_station_station_id_skill_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_sitting_station")),
        sa.UniqueConstraint("session_id", "station_id", name=op.f("uq_skill_sitting_station_session_id_station_id")),
    )
    with op.batch_alter_table("skill_sitting_station", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skill_sitting_station_session_id"), ["session_id"], unique=False)
    op.create_table(
        "skill_examiner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"],
                                name=op.f("fk_skill_examiner_session_id_exam_session")),
        sa.ForeignKeyConstraint(["station_id"], ["skill_station.id"],
                                name=op.f("fk_skill_examiner_station_id_skill_station")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_skill_examiner_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_examiner")),
        sa.UniqueConstraint("session_id", "station_id", "user_id",
                            name=op.f("uq_skill_examiner_session_id_station_id_user_id")),
    )
    with op.batch_alter_table("skill_examiner", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skill_examiner_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_skill_examiner_user_id"), ["user_id"], unique=False)
    op.create_table(
        "skill_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("examiner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("entered_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"], name=op.f("fk_skill_mark_candidate_id_candidate")),
        sa.ForeignKeyConstraint(["examiner_id"], ["user.id"], name=op.f("fk_skill_mark_examiner_id_user")),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"], name=op.f("fk_skill_mark_session_id_exam_session")),
        sa.ForeignKeyConstraint(["station_id"], ["skill_station.id"], name=op.f("fk_skill_mark_station_id_skill_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_mark")),
        sa.UniqueConstraint("session_id", "station_id", "candidate_id", "examiner_id", "kind",
                            name=op.f("uq_skill_mark_session_id_station_id_candidate_id_examiner_id_kind")),
    )
    with op.batch_alter_table("skill_mark", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skill_mark_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_skill_mark_session_id"), ["session_id"], unique=False)
    op.create_table(
        "skill_station_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("difference", sa.Float(), nullable=True),
        sa.Column("updated_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"],
                                name=op.f("fk_skill_station_score_candidate_id_candidate")),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"],
                                name=op.f("fk_skill_station_score_session_id_exam_session")),
        sa.ForeignKeyConstraint(["station_id"], ["skill_station.id"],
                                name=op.f("fk_skill_station_score_station_id_skill_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_station_score")),
        sa.UniqueConstraint("session_id", "station_id", "candidate_id",
                            name=op.f("uq_skill_station_score_session_id_station_id_candidate_id")),
    )
    with op.batch_alter_table("skill_station_score", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skill_station_score_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_skill_station_score_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    for table in ("skill_station_score", "skill_mark", "skill_examiner", "skill_sitting_station", "skill_station"):
        op.drop_table(table)

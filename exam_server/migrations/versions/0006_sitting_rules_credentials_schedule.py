"""sittings: the rules a ticket prints, the rooms a sitting uses, exemptions, scheduled tickets and credentials

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exam_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timing", sa.String(length=20), server_default="common", nullable=False))
        batch_op.add_column(sa.Column("late_entry_min", sa.Integer(), server_default="15", nullable=False))
        batch_op.add_column(sa.Column("min_submit_min", sa.Integer(), server_default="30", nullable=False))
        batch_op.add_column(sa.Column("password_slip", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "session_room",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "room_id"),
    )
    with op.batch_alter_table("session_room", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_room_session_id"), ["session_id"], unique=False)
    op.create_table(
        "session_exemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "candidate_id"),
    )
    with op.batch_alter_table("session_exemption", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_exemption_session_id"), ["session_id"], unique=False)
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_sealed", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("password_issued_at", item_bank.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_login_at", item_bank.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("form_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("application_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=20), server_default="active", nullable=False))
        batch_op.add_column(sa.Column("extra_time_s", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("separate_room", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("accommodation_reason", sa.String(length=300), server_default="",
                                      nullable=False))
        batch_op.create_index(batch_op.f("ix_ticket_application_id"), ["application_id"], unique=False)
        batch_op.create_foreign_key("fk_ticket_form_id_form", "form", ["form_id"], ["id"])
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_admitted_at", item_bank.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.drop_column("late_admitted_at")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_constraint("fk_ticket_form_id_form", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_ticket_application_id"))
        for column in ("accommodation_reason", "separate_room", "extra_time_s", "status", "application_id",
                       "form_id", "first_login_at", "password_issued_at", "password_sealed"):
            batch_op.drop_column(column)
    with op.batch_alter_table("session_exemption", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_exemption_session_id"))
    op.drop_table("session_exemption")
    with op.batch_alter_table("session_room", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_room_session_id"))
    op.drop_table("session_room")
    with op.batch_alter_table("exam_session", schema=None) as batch_op:
        for column in ("password_slip", "min_submit_min", "late_entry_min", "timing"):
            batch_op.drop_column(column)

"""organisations: province → city → centre and pilot units; staff, sites and sittings belong to them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 16:40:00.000000

Existing rows get no organisation (NULL): accounts, sites and sittings from before organisations. Nothing
is guessed here, because a migration cannot know which centre they belong to; organisations/scope.py
says who sees them (an unassigned centre-staff account acts for the only centre when exactly one exists,
and otherwise sees only unassigned rows), and `examctl` / the screens assign them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("centre_id", sa.Integer(), nullable=True),
        sa.Column("licence_number", sa.String(length=60), server_default="", nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_id"], ["organisation.id"], name=op.f("fk_organisation_centre_id_organisation")),
        sa.ForeignKeyConstraint(["parent_id"], ["organisation.id"], name=op.f("fk_organisation_parent_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("code", name=op.f("uq_organisation_code")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_organisation_kind_name")),
    )
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisation_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisation_parent_id"), ["parent_id"], unique=False)

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_user_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_user_organisation_id_organisation"), "organisation",
                                    ["organisation_id"], ["id"])
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("centre_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("filing_number", sa.String(length=60), server_default="", nullable=False))
        batch_op.create_index(batch_op.f("ix_site_centre_id"), ["centre_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_site_centre_id_organisation"), "organisation",
                                    ["centre_id"], ["id"])
    with op.batch_alter_table("exam_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("centre_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_exam_session_centre_id"), ["centre_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_exam_session_centre_id_organisation"), "organisation",
                                    ["centre_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("exam_session", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_exam_session_centre_id_organisation"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_exam_session_centre_id"))
        batch_op.drop_column("centre_id")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_site_centre_id_organisation"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_site_centre_id"))
        batch_op.drop_column("filing_number")
        batch_op.drop_column("centre_id")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_user_organisation_id_organisation"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_user_organisation_id"))
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_parent_id"))
        batch_op.drop_index(batch_op.f("ix_organisation_kind"))
        batch_op.drop_index(batch_op.f("ix_organisation_centre_id"))
    op.drop_table("organisation")

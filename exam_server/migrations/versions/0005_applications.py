"""applications: windows per level and part, applications with their decisions, ID photos, unit links, rules

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 17:00:00.000000

The eligibility rules of a level are the defaults in code (applications/eligibility.py DEFAULT_RULES) until
someone saves others, so no rows are seeded here: an empty `eligibility_rule_set` means "the defaults".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "application_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=20), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("exam_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_window")),
    )
    with op.batch_alter_table("application_window", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_application_window_level"), ["level"], unique=False)

    op.create_table(
        "applicant_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applicant_photo")),
        sa.UniqueConstraint("sha256", name=op.f("uq_applicant_photo_sha256")),
    )

    op.create_table(
        "eligibility_rule_set",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("level", name=op.f("pk_eligibility_rule_set")),
    )

    op.create_table(
        "application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("sex", sa.String(length=4), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("employer", sa.String(length=200), nullable=False),
        sa.Column("guard_cert_no", sa.String(length=40), nullable=False),
        sa.Column("guard_cert_date", sa.Date(), nullable=False),
        sa.Column("prior_cert_level", sa.Integer(), nullable=True),
        sa.Column("prior_cert_no", sa.String(length=40), nullable=False),
        sa.Column("prior_cert_date", sa.Date(), nullable=True),
        sa.Column("years_in_trade", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("training_unit_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("theory_exempt", sa.Boolean(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=True),
        sa.Column("unit_reason", sa.Text(), nullable=False),
        sa.Column("unit_reviewed_by", sa.String(length=120), nullable=True),
        sa.Column("unit_reviewed_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("centre_reason", sa.Text(), nullable=False),
        sa.Column("centre_reviewed_by", sa.String(length=120), nullable=True),
        sa.Column("centre_reviewed_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["applicant_photo.id"], name=op.f("fk_application_photo_id_applicant_photo")),
        sa.ForeignKeyConstraint(["previous_id"], ["application.id"], name=op.f("fk_application_previous_id_application")),
        sa.ForeignKeyConstraint(["training_unit_id"], ["organisation.id"],
                                name=op.f("fk_application_training_unit_id_organisation")),
        sa.ForeignKeyConstraint(["unit_id"], ["organisation.id"], name=op.f("fk_application_unit_id_organisation")),
        sa.ForeignKeyConstraint(["window_id"], ["application_window.id"],
                                name=op.f("fk_application_window_id_application_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application")),
    )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index("ix_application_person_level", ["id_number", "level"], unique=False)
        batch_op.create_index("ix_application_unit_status", ["unit_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_application_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_application_window_id"), ["window_id"], unique=False)

    op.create_table(
        "unit_application_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["organisation.id"], name=op.f("fk_unit_application_link_unit_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_application_link")),
        sa.UniqueConstraint("token", name=op.f("uq_unit_application_link_token")),
        sa.UniqueConstraint("unit_id", name=op.f("uq_unit_application_link_unit_id")),
    )


def downgrade() -> None:
    op.drop_table("unit_application_link")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_window_id"))
        batch_op.drop_index(batch_op.f("ix_application_status"))
        batch_op.drop_index("ix_application_unit_status")
        batch_op.drop_index("ix_application_person_level")
    op.drop_table("application")
    op.drop_table("eligibility_rule_set")
    op.drop_table("applicant_photo")
    with op.batch_alter_table("application_window", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_window_level"))
    op.drop_table("application_window")

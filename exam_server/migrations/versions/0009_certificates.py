"""certificates: the organisations' certificate codes, the per-institution serial counters, the certificates

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("institution_type", sa.Integer(), nullable=True),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name=op.f("fk_certificate_code_organisation_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_code")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_certificate_code_organisation_id")),
    )
    op.create_table(
        "certificate_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["centre_id"], ["organisation.id"],
                                name=op.f("fk_certificate_counter_centre_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_counter")),
        sa.UniqueConstraint("centre_id", "level", "year", name=op.f("uq_certificate_counter_centre_id_level_year")),
    )
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=True),
        sa.Column("sitting_id", sa.Integer(), nullable=True),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("theory_score", sa.Float(), nullable=True),
        sa.Column("theory_exempt", sa.Boolean(), nullable=False),
        sa.Column("skill_score", sa.Float(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"], name=op.f("fk_certificate_candidate_id_candidate")),
        sa.ForeignKeyConstraint(["sitting_id"], ["exam_session.id"],
                                name=op.f("fk_certificate_sitting_id_exam_session")),
        sa.ForeignKeyConstraint(["centre_id"], ["organisation.id"],
                                name=op.f("fk_certificate_centre_id_organisation")),
        sa.ForeignKeyConstraint(["replaces_id"], ["certificate.id"],
                                name=op.f("fk_certificate_replaces_id_certificate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate")),
        sa.UniqueConstraint("number", name=op.f("uq_certificate_number")),
        sa.UniqueConstraint("code", name=op.f("uq_certificate_code")),
    )
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificate_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_outcome_id"), ["outcome_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_sitting_id"), ["sitting_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificate_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_status"))
        batch_op.drop_index(batch_op.f("ix_certificate_centre_id"))
        batch_op.drop_index(batch_op.f("ix_certificate_sitting_id"))
        batch_op.drop_index(batch_op.f("ix_certificate_outcome_id"))
        batch_op.drop_index(batch_op.f("ix_certificate_candidate_id"))
    op.drop_table("certificate")
    op.drop_table("certificate_counter")
    op.drop_table("certificate_code")

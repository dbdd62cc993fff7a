"""reports: the centres' registered report keys and the signed period files the province imported

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "centre_report_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("registered_by", sa.String(length=120), nullable=False),
        sa.Column("registered_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_id"], ["organisation.id"],
                                name=op.f("fk_centre_report_key_centre_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centre_report_key")),
    )
    with op.batch_alter_table("centre_report_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_centre_report_key_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_centre_report_key_fingerprint"), ["fingerprint"], unique=False)
    op.create_table(
        "centre_report_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("exported_at", sa.String(length=40), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("imported_by", sa.String(length=120), nullable=False),
        sa.Column("imported_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_id"], ["organisation.id"],
                                name=op.f("fk_centre_report_import_centre_id_organisation")),
        sa.ForeignKeyConstraint(["key_id"], ["centre_report_key.id"],
                                name=op.f("fk_centre_report_import_key_id_centre_report_key")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["centre_report_import.id"],
                                name=op.f("fk_centre_report_import_supersedes_id_centre_report_import")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centre_report_import")),
        sa.UniqueConstraint("digest", name=op.f("uq_centre_report_import_digest")),
    )
    with op.batch_alter_table("centre_report_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_centre_report_import_centre_id"), ["centre_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_centre_report_import_superseded"), ["superseded"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("centre_report_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_centre_report_import_superseded"))
        batch_op.drop_index(batch_op.f("ix_centre_report_import_centre_id"))
    op.drop_table("centre_report_import")
    with op.batch_alter_table("centre_report_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_centre_report_key_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_centre_report_key_centre_id"))
    op.drop_table("centre_report_key")

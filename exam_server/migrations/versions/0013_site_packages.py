"""site packages: trusted node keys, the centre's sitting exports, a site's imports and ticket photos, and the
sitting's sealed-paper flag

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exam_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paper_sealed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "trusted_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("registered_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=120), nullable=False),
        sa.Column("revoked_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_key")),
        sa.UniqueConstraint("public_key", name=op.f("uq_trusted_key_public_key")),
    )
    with op.batch_alter_table("trusted_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_key_code"), ["code"], unique=False)
    op.create_table(
        "sitting_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("site_code", sa.String(length=40), nullable=False),
        sa.Column("release_secret", sa.String(length=40), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("last_package_id", sa.String(length=40), nullable=False),
        sa.Column("last_exported_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"],
                                name=op.f("fk_sitting_export_session_id_exam_session")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sitting_export")),
        sa.UniqueConstraint("session_id", "site_code", name=op.f("uq_sitting_export_session_id_site_code")),
    )
    with op.batch_alter_table("sitting_export", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sitting_export_session_id"), ["session_id"], unique=False)
    op.create_table(
        "sitting_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("site_code", sa.String(length=40), nullable=False),
        sa.Column("centre_fingerprint", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("sealed_paper", sa.LargeBinary(), nullable=True),
        sa.Column("imported_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=120), nullable=False),
        sa.Column("unsealed_at", item_bank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unsealed_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"],
                                name=op.f("fk_sitting_import_session_id_exam_session")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sitting_import")),
        sa.UniqueConstraint("package_id", name=op.f("uq_sitting_import_package_id")),
    )
    with op.batch_alter_table("sitting_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sitting_import_session_id"), ["session_id"], unique=False)
    op.create_table(
        "ticket_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_photo_ticket_id_ticket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_photo")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_ticket_photo_ticket_id")),
    )


def downgrade() -> None:
    op.drop_table("ticket_photo")
    with op.batch_alter_table("sitting_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sitting_import_session_id"))
    op.drop_table("sitting_import")
    with op.batch_alter_table("sitting_export", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sitting_export_session_id"))
    op.drop_table("sitting_export")
    with op.batch_alter_table("trusted_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_key_code"))
    op.drop_table("trusted_key")
    with op.batch_alter_table("exam_session", schema=None) as batch_op:
        batch_op.drop_column("paper_sealed")

"""item attributes: 认知层次 and the bank's named attributes on item versions, attribute definitions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attribute_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", item_bank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_definition")),
        sa.UniqueConstraint("name", name=op.f("uq_attribute_definition_name")),
    )
    with op.batch_alter_table("item_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cognitive_level", sa.String(length=20), nullable=True))
        # Existing versions carry no attribute: an empty object, so readers never meet NULL.
        batch_op.add_column(sa.Column("attributes", sa.JSON(), server_default="{}", nullable=False))
        batch_op.create_index(batch_op.f("ix_item_version_cognitive_level"), ["cognitive_level"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_version_cognitive_level"))
        batch_op.drop_column("attributes")
        batch_op.drop_column("cognitive_level")
    op.drop_table("attribute_definition")

"""sessions and logins: session epochs of staff accounts and tickets, growing login delays

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 15:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import item_bank.db


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_failure_at", item_bank.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("blocked_until", item_bank.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_column("blocked_until")
        batch_op.drop_column("last_failure_at")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")

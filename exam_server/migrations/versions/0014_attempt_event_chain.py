"""attempt event hash chain: attempt_event.prev_hash and hash, attempt.last_event_hash; existing logs chained

Every existing attempt's log is chained here, in log order (id), so afterwards every event carries a hash and
`examctl verify-log` has one rule for old and new attempts alike.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from exam_server.delivery.chain import GENESIS, link

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_hash", sa.String(length=64), server_default="", nullable=False))
    with op.batch_alter_table("attempt_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_logs(op.get_bind())


def _chain_existing_logs(connection: sa.Connection) -> None:
    import item_bank.db

    events = sa.table(
        "attempt_event", sa.column("id", sa.Integer), sa.column("attempt_id", sa.Integer),
        sa.column("at", item_bank.db.UTCDateTime()), sa.column("kind", sa.String), sa.column("actor", sa.String),
        sa.column("item_version_id", sa.Integer), sa.column("seq", sa.Integer), sa.column("key", sa.String),
        sa.column("payload", sa.JSON), sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
    )
    attempts = sa.table("attempt", sa.column("id", sa.Integer), sa.column("last_event_hash", sa.String))
    versions = sa.table("item_version", sa.column("id", sa.Integer), sa.column("item_id", sa.Integer),
                        sa.column("version_no", sa.Integer))
    items = sa.table("item", sa.column("id", sa.Integer), sa.column("external_id", sa.String))
    # Items are named as both nodes know them (delivery/chain.py): bank number and version.
    refs = {v: f"{x}#{n}" for v, x, n in connection.execute(
        sa.select(versions.c.id, items.c.external_id, versions.c.version_no)
        .join(items, items.c.id == versions.c.item_id))}
    set_event = (sa.update(events).where(events.c.id == sa.bindparam("b_id"))
                 .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")))
    set_head = (sa.update(attempts).where(attempts.c.id == sa.bindparam("b_id"))
                .values(last_event_hash=sa.bindparam("b_head")))
    heads: dict[int, str] = {}
    pending: list[dict[str, object]] = []
    rows = connection.execute(
        sa.select(events.c.id, events.c.attempt_id, events.c.at, events.c.kind, events.c.actor,
                  events.c.item_version_id, events.c.seq, events.c.key, events.c.payload)
        .order_by(events.c.attempt_id, events.c.id)
    ).all()
    for r in rows:
        prev = heads.get(r.attempt_id, GENESIS)
        item = None if r.item_version_id is None else refs.get(r.item_version_id, f"#{r.item_version_id}")
        head = heads[r.attempt_id] = link(prev, r.kind, r.actor, r.at, item, r.seq, r.key, r.payload)
        pending.append({"b_id": r.id, "b_prev": prev, "b_hash": head})
        if len(pending) >= BATCH:
            connection.execute(set_event, pending)
            pending = []
    if pending:
        connection.execute(set_event, pending)
    if heads:
        connection.execute(set_head, [{"b_id": i, "b_head": h} for i, h in heads.items()])


def downgrade() -> None:
    with op.batch_alter_table("attempt_event", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.drop_column("last_event_hash")

"""Import batches: the versions one import created, approved together by a second person.

An import's audit row (action `bank.import`) is its batch: it names the importer (actor and staff account) and
lists the versions the import created, all in review or draft. A reviewer who is not the importer approves the
batch's versions still in review in one step; each approval goes through `review.transition`, so the same rules
hold as for one item (the reviewer role, nobody approves what they wrote, the previous approved version retired
only now). The importer asking to approve their own batch is refused as a whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.audit import AuditEvent
from item_bank.importing import IMPORT_ACTION
from item_bank.models import IN_REVIEW, Item, ItemVersion
from item_bank.review import BulkResult, Reviewer, ReviewError, bulk_transition


class BatchRefused(ReviewError):
    """A batch that does not exist, has nothing waiting, or may not be approved by this person."""

    default_code = "batch_refused"

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImportBatch:
    """One import as a reviewer sees it: who brought which file when, and how many of its versions still wait."""

    id: int
    file: str
    actor: str
    author_id: int | None
    at: dt.datetime
    version_ids: tuple[int, ...]
    pending: int

    def imported_by(self, who: Reviewer) -> bool:
        """Whether `who` is the person who imported the batch (by staff account, or by the same actor)."""
        return (who.user_id is not None and who.user_id == self.author_id) or who.actor == self.actor


def _versions_of(row: AuditEvent) -> tuple[int, ...]:
    after: dict[str, Any] = row.after or {}
    return tuple(int(v) for v in after.get("versions") or [] if isinstance(v, int))


def _pending_among(session: Session, version_ids: tuple[int, ...]) -> set[int]:
    pending: set[int] = set()
    ids = list(version_ids)
    for start in range(0, len(ids), 500):
        pending.update(
            session.scalars(
                select(ItemVersion.id).where(
                    ItemVersion.id.in_(ids[start : start + 500]), ItemVersion.status == IN_REVIEW
                )
            )
        )
    return pending


def _batch(session: Session, row: AuditEvent, pending: int | None = None) -> ImportBatch:
    after: dict[str, Any] = row.after or {}
    versions = _versions_of(row)
    author = after.get("author_id")
    return ImportBatch(
        id=row.id,
        file=str(after.get("file") or row.entity_id),
        actor=row.actor,
        author_id=author if isinstance(author, int) else None,
        at=row.at,
        version_ids=versions,
        pending=len(_pending_among(session, versions)) if pending is None else pending,
    )


def import_batch(session: Session, batch_id: int) -> ImportBatch | None:
    """The import batch `batch_id`, or None if no import has that number."""
    row = session.get(AuditEvent, batch_id)
    if row is None or row.action != IMPORT_ACTION or not _versions_of(row):
        return None
    return _batch(session, row)


def pending_batches(session: Session, limit: int = 20) -> list[ImportBatch]:
    """The newest imports that still have versions waiting for review (newest first)."""
    since = session.scalar(
        select(func.min(ItemVersion.created_at)).where(ItemVersion.status == IN_REVIEW)
    )
    if since is None:
        return []
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == IMPORT_ACTION, AuditEvent.at >= since - dt.timedelta(minutes=1))
        .order_by(AuditEvent.id.desc())
        .limit(200)
    )
    batches = [b for b in (_batch(session, row) for row in rows if _versions_of(row)) if b.pending]
    return batches[:limit]


def approve_batch(session: Session, batch_id: int, who: Reviewer, comment: str = "") -> BulkResult:
    """Approve every version of import `batch_id` still in review (the caller commits); versions another
    reviewer has meanwhile approved or returned are left as they are. Refused as a whole for the importer."""
    batch = import_batch(session, batch_id)
    if batch is None:
        raise BatchRefused(f"导入批次 {batch_id} 不存在")
    if batch.imported_by(who):
        raise BatchRefused(
            f"不能审核通过自己导入的批次 {batch_id}（{batch.file}）：需另一位审题人审核", status=403
        )
    if not who.has_role("reviewer"):
        raise BatchRefused("批量审核通过需要审题人角色", status=403)
    pending = sorted(_pending_among(session, batch.version_ids))
    if not pending:
        raise BatchRefused(f"导入批次 {batch_id}（{batch.file}）没有待审核的试题")
    # Load the items first and do not flush before every query: each approval asks for the item and its other
    # approved versions, and flushing the audit rows of the batch one version at a time made 1,696 items take
    # seconds. One import holds one version per item, so no approval here depends on another's unflushed row.
    item_ids = session.scalars(select(ItemVersion.item_id).where(ItemVersion.id.in_(pending))).all()
    for start in range(0, len(item_ids), 500):
        session.scalars(select(Item).where(Item.id.in_(item_ids[start : start + 500]))).all()
    with session.no_autoflush:
        result = bulk_transition(session, pending, "approve", who, comment)
    session.flush()
    return result

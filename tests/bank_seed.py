"""The honest way for a test to get an approved bank: import as one person, approve the batch as another.

Imports store versions in review (never approved); `import_approved` then approves the import's batch as a
second person through `item_bank.batches.approve_batch`, the operation the review queue uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from item_bank.batches import approve_batch
from item_bank.importing import ImportReport, import_items
from item_bank.review import Reviewer

IMPORTER = Reviewer("test:importer", 9001, frozenset({"bank_manager"}))
REVIEWER = Reviewer("test:reviewer", 9002, frozenset({"reviewer"}))


def import_approved(session: Session, path: Path | str, **options: Any) -> ImportReport:
    """Import `path` as IMPORTER and approve its batch as REVIEWER (committed); returns the import's report."""
    report = import_items(session, path, actor=IMPORTER.actor, author_id=IMPORTER.user_id, **options)
    if report.batch_id is not None:
        approve_batch(session, report.batch_id, REVIEWER)
        session.commit()
    return report

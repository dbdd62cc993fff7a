"""Two-person review holds for imports: versions arrive in review with the importer as author, the importer cannot
approve their own batch, a second person approves it in one step, and a re-import waits without retiring the
reviewed version (issue 13, finding 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bank_seed import IMPORTER, REVIEWER
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.batches import BatchRefused, approve_batch, import_batch, pending_batches
from item_bank.importing import ImportStatusRefused, import_items
from item_bank.models import APPROVED, IN_REVIEW, RETIRED, Item, ItemVersion
from item_bank.review import Reviewer

ITEMS = [
    {"id": "R-1", "type": "single", "stem": "发现火情应当首先（ ）。", "options": ["逃离", "报警", "围观"], "key": "B",
     "knowledge_area": "消防安全"},
    {"id": "R-2", "type": "judge", "stem": "保安员可以搜查他人身体。", "key": "B", "knowledge_area": "巡逻"},
]
MANAGER_WHO_REVIEWS = Reviewer("test:importer", IMPORTER.user_id, frozenset({"bank_manager", "reviewer"}))


def bank_file(tmp_path: Path, items: list[dict], name: str = "bank.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "baoan-item-bank", "version": 1, "items": items}, ensure_ascii=False), encoding="utf-8")
    return path


def statuses(session: Session) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ext, status in session.execute(
        select(Item.external_id, ItemVersion.status).join(ItemVersion).order_by(ItemVersion.id)
    ):
        out.setdefault(ext, []).append(status)
    return out


def test_an_import_waits_for_review_with_its_importer_as_author(session: Session, tmp_path: Path) -> None:
    report = import_items(session, bank_file(tmp_path, ITEMS), actor=IMPORTER.actor, author_id=IMPORTER.user_id)
    assert statuses(session) == {"R-1": [IN_REVIEW], "R-2": [IN_REVIEW]}
    assert {v.author_id for v in session.scalars(select(ItemVersion))} == {IMPORTER.user_id}
    batch = import_batch(session, report.batch_id or 0)
    assert batch is not None and batch.pending == 2 and batch.author_id == IMPORTER.user_id
    assert [b.id for b in pending_batches(session)] == [batch.id]


@pytest.mark.parametrize("status", [APPROVED, "retired", ""])
def test_an_import_never_stores_approved_versions(session: Session, tmp_path: Path, status: str) -> None:
    with pytest.raises(ImportStatusRefused, match="另一位审题人"):
        import_items(session, bank_file(tmp_path, ITEMS), actor="t", author_id=1, status=status)
    assert session.scalar(select(func.count()).select_from(ItemVersion)) == 0


def test_the_importer_cannot_approve_their_own_batch(session: Session, tmp_path: Path) -> None:
    report = import_items(session, bank_file(tmp_path, ITEMS), actor=IMPORTER.actor, author_id=IMPORTER.user_id)
    assert report.batch_id is not None
    with pytest.raises(BatchRefused, match="自己导入") as refused:
        approve_batch(session, report.batch_id, MANAGER_WHO_REVIEWS)
    assert refused.value.status == 403
    # The same person under another actor name is still the importer (by account), and vice versa.
    with pytest.raises(BatchRefused, match="自己导入"):
        approve_batch(session, report.batch_id, Reviewer("cli:root", IMPORTER.user_id, frozenset({"reviewer"})))
    session.rollback()
    assert statuses(session) == {"R-1": [IN_REVIEW], "R-2": [IN_REVIEW]}


def test_a_second_person_approves_the_batch(session: Session, tmp_path: Path) -> None:
    report = import_items(session, bank_file(tmp_path, ITEMS), actor=IMPORTER.actor, author_id=IMPORTER.user_id)
    assert report.batch_id is not None
    result = approve_batch(session, report.batch_id, REVIEWER)
    session.commit()
    assert len(result.done) == 2 and not result.refused
    assert statuses(session) == {"R-1": [APPROVED], "R-2": [APPROVED]}
    assert {v.reviewer_id for v in session.scalars(select(ItemVersion))} == {REVIEWER.user_id}
    assert pending_batches(session) == []
    with pytest.raises(BatchRefused, match="没有待审核"):
        approve_batch(session, report.batch_id, REVIEWER)


def test_a_reimport_waits_and_the_reviewed_version_stays_in_effect(session: Session, tmp_path: Path) -> None:
    first = import_items(session, bank_file(tmp_path, ITEMS), actor=IMPORTER.actor, author_id=IMPORTER.user_id)
    approve_batch(session, first.batch_id or 0, REVIEWER)
    session.commit()
    changed = [dict(ITEMS[0], key="C"), ITEMS[1]]
    again = import_items(session, bank_file(tmp_path, changed, "again.json"), actor=IMPORTER.actor,
                         author_id=IMPORTER.user_id)  # fmt: skip
    assert (again.new_versions, again.unchanged) == (1, 1)
    item = session.scalar(select(Item).where(Item.external_id == "R-1"))
    assert item is not None and item.current_version is not None
    # The approved, reviewed version (key B) is what forms are built from until the new key is approved.
    assert (item.current_version.version_no, item.current_version.status, item.current_version.key) == (1, APPROVED, "B")
    assert statuses(session)["R-1"] == [APPROVED, IN_REVIEW]
    # Importing the same file once more queues nothing new.
    assert import_items(session, bank_file(tmp_path, changed, "third.json"), actor="t", author_id=1).unchanged == 2
    approve_batch(session, again.batch_id or 0, REVIEWER)
    session.commit()
    session.refresh(item)
    assert statuses(session)["R-1"] == [RETIRED, APPROVED]
    assert item.current_version is not None and item.current_version.key == "C"

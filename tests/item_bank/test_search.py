"""Search over each item's newest version: text (normalised), level, area subtree, type, status."""

from __future__ import annotations

from pathlib import Path

from bank_seed import import_approved
from sqlalchemy import select
from sqlalchemy.orm import Session

import item_bank.search as search
from item_bank.models import Item, KnowledgeArea
from item_bank.search import UNCLASSIFIED, ItemQuery, review_queue, search_items, status_counts
from item_bank.tree import merge_areas
from item_bank.versions import ItemDraft, revise_item


def area_id(session: Session, name: str) -> int:
    found = session.scalar(
        select(KnowledgeArea.id).where(KnowledgeArea.name == name, KnowledgeArea.level == 5)
    )
    assert found is not None
    return found


def test_filters_on_the_shared_bank(session: Session, shared_bank_csv: Path, monkeypatch: object) -> None:
    import_approved(session, shared_bank_csv)
    assert search_items(session, ItemQuery()).total == 1696
    assert search_items(session, ItemQuery(type="judge", level=5)).total == 295
    assert search_items(session, ItemQuery(level=4)).total == 0
    # Width, spaces and punctuation do not matter; the id matches exactly.
    assert (
        search_items(session, ItemQuery(text="防火 巡查，")).total
        == search_items(session, ItemQuery(text="防火巡查")).total
        > 0
    )
    hit = search_items(session, ItemQuery(text="BAY-0002"))
    assert [r.external_id for r in hit.rows] == ["BAY-0002"]
    basics = search_items(session, ItemQuery(area_id=area_id(session, "基础知识"))).total
    assert basics == 205 + 142 + 199 + 179 + 135 + 143
    traffic, fire = (session.get(KnowledgeArea, area_id(session, n)) for n in ("道路交通安全", "消防安全"))
    merge_areas(session, traffic, fire, actor="t")  # type: ignore[arg-type]
    session.commit()
    assert search_items(session, ItemQuery(area_id=fire.id)).total == 179 + 135  # type: ignore[union-attr]
    assert search_items(session, ItemQuery(area_id=UNCLASSIFIED)).total == 0
    page = search_items(session, ItemQuery(page=3, per_page=50))
    assert page.rows[0].external_id == search_items(session, ItemQuery(per_page=200)).rows[100].external_id
    assert status_counts(session) == {"approved": 1696}
    # Counting stops at the limit and says so.
    monkeypatch.setattr(search, "COUNT_LIMIT", 100)  # type: ignore[attr-defined]
    capped = search_items(session, ItemQuery())
    assert capped.more and capped.total_label == "100+" and capped.pages == 2
    assert search_items(session, ItemQuery(page=2)).pages == 3  # a full last page offers one more


def test_newest_version_is_what_lists_show(session: Session, shared_bank_csv: Path) -> None:
    import_approved(session, shared_bank_csv)
    item = session.scalar(select(Item).where(Item.external_id == "BAY-0001"))
    assert item is not None and item.current_version is not None
    draft = ItemDraft.from_version(item.current_version)
    draft.stem = "保安员在防火巡查时，下列项目中无需检查的是（ ）。"
    revise_item(session, item, draft, actor="t", author_id=7)
    session.commit()
    row = search_items(session, ItemQuery(text="无需检查")).rows[0]
    assert (row.external_id, row.version_no, row.status, row.approved_elsewhere) == (
        "BAY-0001",
        2,
        "draft",
        True,
    )
    assert search_items(session, ItemQuery(author_id=7)).total == 1
    assert review_queue(session).total == 0

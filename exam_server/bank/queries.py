"""What the bank's screens read: pickers, lists and lookups. Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from item_bank.models import Item, ItemSet, ItemVersion, KnowledgeArea
from item_bank.tree import AreaRow, tree_rows

# How many of the newest item sets the editor's set picker offers.
SET_PICKER_SIZE = 200


def area_rows(session: Session, level: int | None = None) -> list[AreaRow]:
    """The tree rows for area pickers: every level's tree when `level` is None (empty until a tree is made)."""
    pairs = session.execute(select(KnowledgeArea.level, KnowledgeArea.part).distinct()).all()
    rows: list[AreaRow] = []
    for lv, part in sorted(pairs, key=lambda p: (p[0] or 0, p[1])):
        if level is None or lv == level:
            rows.extend(tree_rows(session, lv, part, counts=False))
    return rows


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Staff display names by user id (authors, reviewers)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


def item_by_external_id(session: Session, external_id: str) -> Item | None:
    return session.scalar(select(Item).where(Item.external_id == external_id))


def items_by_id(session: Session, ids: Iterable[int]) -> dict[int, Item]:
    return {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(list(ids))))}


def versions_by_id(session: Session, ids: Iterable[int]) -> dict[int, ItemVersion]:
    return {v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_(list(ids))))}


def recent_sets(session: Session) -> list[ItemSet]:
    """The newest item sets, for the editor's set picker."""
    return list(session.scalars(select(ItemSet).order_by(ItemSet.id.desc()).limit(SET_PICKER_SIZE)))


def sets_with_counts(session: Session) -> list[Any]:
    """Every item set, newest first, with how many item versions belong to it."""
    return list(
        session.execute(
            select(ItemSet, func.count(ItemVersion.id))
            .outerjoin(ItemVersion, ItemVersion.item_set_id == ItemSet.id)
            .group_by(ItemSet.id)
            .order_by(ItemSet.id.desc())
        ).all()
    )

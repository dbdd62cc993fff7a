"""Item sets (题组, 情景 / 案例): a shared stimulus that child items join by `item_set_id`.

A set's stimulus may change until a locked form delivers it; from then on a new set is made instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.models import Item, ItemSet, ItemVersion
from item_bank.types import ContentProblem, ItemContent, item_type
from item_bank.versions import ItemValidationError, VersionFrozenError, locked_version_ids


def _set_problems(stimulus: str) -> list[ContentProblem]:
    return item_type("set").validate(ItemContent("set", stimulus))


def create_item_set(
    session: Session, *, title: str, stimulus: str, media: list[dict[str, Any]], actor: str
) -> ItemSet:
    """A new shared stimulus; child items join it by `item_set_id`. The caller commits."""
    problems = _set_problems(stimulus)
    if problems:
        raise ItemValidationError(problems)
    item_set = ItemSet(
        external_id=f"tmp-{uuid.uuid4().hex}",
        title=title.strip()[:200],
        stimulus=stimulus.strip(),
        media=media,
        created_at=utcnow(),
    )
    session.add(item_set)
    session.flush()
    item_set.external_id = f"S{item_set.id:05d}"
    audit(session, actor, "item_set.create", "item_set", item_set.id, None, {"title": item_set.title})
    return item_set


def set_children(session: Session, item_set: ItemSet) -> list[ItemVersion]:
    """The newest version of every item in the set, in set order."""
    rows = session.scalars(
        select(ItemVersion)
        .join(Item, ItemVersion.id == func.coalesce(Item.head_version_id, Item.current_version_id))
        .where(ItemVersion.item_set_id == item_set.id)
        .order_by(ItemVersion.set_position, Item.id)
    )
    return list(rows)


def update_item_set(
    session: Session, item_set: ItemSet, *, title: str, stimulus: str, media: list[dict[str, Any]], actor: str
) -> ItemSet:
    """Change a set's stimulus, unless a locked form delivers it (then make a new set instead)."""
    problems = _set_problems(stimulus)
    if problems:
        raise ItemValidationError(problems)
    used = list(session.scalars(select(ItemVersion.id).where(ItemVersion.item_set_id == item_set.id)))
    if locked_version_ids(session, used):
        raise VersionFrozenError(
            f"题组 {item_set.external_id} 已用于锁定的试卷，情景材料不能再改；请新建题组并修改子题"
        )
    before = {"title": item_set.title, "stimulus": item_set.stimulus, "media": item_set.media}
    item_set.title, item_set.stimulus, item_set.media = title.strip()[:200], stimulus.strip(), media
    audit(
        session,
        actor,
        "item_set.update",
        "item_set",
        item_set.id,
        before,
        {"title": item_set.title, "stimulus": item_set.stimulus, "media": item_set.media},
    )
    return item_set

"""The bank's verbs as the screens and the JSON API call them: each one transaction-sized and audited
(the audit rows are written by the item_bank operations in the same transaction)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from item_bank.importing import ImportReport, import_items
from item_bank.media import save_media
from item_bank.models import APPROVED, Item, ItemVersion
from item_bank.review import BulkResult, Reviewer, ReviewError, bulk_transition, transition
from item_bank.versions import ItemDraft, ItemError, create_item, revise_item, tag_area

AUTHOR_ROLES = ("author", "bank_manager")
BANK_ROLES = ("author", "reviewer", "bank_manager")


def reviewer_of(principal: Any) -> Reviewer:
    """The review-side identity of a logged-in staff principal."""
    return Reviewer(principal.actor, principal.user.id, frozenset(principal.user.roles or []))


def save_item(
    session: Session,
    draft: ItemDraft,
    who: Reviewer,
    *,
    item: Item | None = None,
    base_version_id: int | None = None,
    submit: bool = False,
) -> ItemVersion:
    """Create an item, or a new version of `item`; optionally submit it for review at once. Commits."""
    if not who.has_role(*AUTHOR_ROLES):
        raise ItemError("只有命题人或题库管理员可以编写试题")
    try:
        if item is None:
            version = create_item(session, draft, actor=who.actor, author_id=who.user_id)
        else:
            version = revise_item(
                session, item, draft, actor=who.actor, author_id=who.user_id, base_version_id=base_version_id
            )
        if submit:
            transition(session, version, "submit", who)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return version


def review(
    session: Session, version: ItemVersion, action: str, who: Reviewer, comment: str = ""
) -> ItemVersion:
    """One review step on one version. Commits; ReviewError says why not."""
    try:
        transition(session, version, action, who, comment)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return version


def bulk_review(
    session: Session, version_ids: list[int], action: str, who: Reviewer, comment: str = ""
) -> BulkResult:
    """One review step on many versions (the reviewer's queue); refused ones are listed. Commits."""
    if not version_ids:
        raise ReviewError("请先勾选试题")
    try:
        result = bulk_transition(session, version_ids, action, who, comment)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def tag(session: Session, version: ItemVersion, area_id: int | None, who: Reviewer) -> None:
    """Set the knowledge area of a version (reviewers tag unclassified imports). Commits."""
    if not who.has_role("reviewer", "bank_manager"):
        raise ItemError("只有审题人或题库管理员可以归类试题")
    try:
        tag_area(session, version, area_id, actor=who.actor)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def upload_media(session: Session, name: str, data: bytes) -> dict[str, Any]:
    """Store an uploaded image; returns the reference an item version keeps. Commits."""
    try:
        ref = save_media(session, name, data)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ref


def run_import(
    session: Session, path: Path, who: Reviewer, *, status: str, dry_run: bool, name: str | None = None
) -> ImportReport:
    """Import a file uploaded on the screen; authors may only import drafts."""
    if status == APPROVED and not who.has_role("bank_manager"):
        raise ItemError("只有题库管理员可以直接导入为“已通过”")
    return import_items(
        session,
        path,
        actor=who.actor,
        status=status,
        dry_run=dry_run,
        author_id=who.user_id if not who.has_role("bank_manager") else None,
        name=name,
    )

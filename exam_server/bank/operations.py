"""The bank's verbs as the screens, the JSON API and the commands call them: each one transaction, audited by
the item_bank operation it calls in that same transaction. Views never commit; these do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.models import User
from item_bank import attributes
from item_bank.batches import approve_batch
from item_bank.exchange.records import ParsedFile
from item_bank.importing import (
    IMPORT_STATUSES,
    ImportReport,
    ImportStatusRefused,
    import_parsed,
    read_file,
)
from item_bank.item_sets import create_item_set, update_item_set
from item_bank.kernel import transaction, user_actor
from item_bank.media import save_media
from item_bank.models import IN_REVIEW, AttributeDefinition, Item, ItemSet, ItemVersion, KnowledgeArea
from item_bank.review import BulkResult, Reviewer, ReviewError, bulk_transition, transition
from item_bank.standard_tree import ensure_standard_tree
from item_bank.tree import (
    TreeError,
    create_area,
    merge_areas,
    move_area,
    set_weight_table,
    update_area,
)
from item_bank.versions import ItemDraft, ItemError, create_item, revise_item, tag_area

AUTHOR_ROLES = ("author", "bank_manager")
REVIEW_ROLES = ("reviewer", "bank_manager")
BANK_ROLES = ("author", "reviewer", "bank_manager")
MANAGER_ROLES = ("bank_manager",)


def reviewer_of(principal: Any) -> Reviewer:
    """The review-side identity of a logged-in staff principal."""
    return Reviewer(principal.actor, principal.user.id, frozenset(principal.user.roles or []))


def reviewer_for(user: User) -> Reviewer:
    """The review-side identity of a staff account acting outside a request (a job, the CLI, the demo)."""
    return Reviewer(user_actor(user.username), user.id, frozenset(user.roles or []))


def _require(who: Reviewer, roles: tuple[str, ...], refusal: str) -> None:
    if not who.has_role(*roles):
        raise ItemError(refusal, status=403)


# ----- items and their review -----


def save_item(
    session: Session,
    draft: ItemDraft,
    who: Reviewer,
    *,
    item: Item | None = None,
    base_version_id: int | None = None,
    submit: bool = False,
) -> ItemVersion:
    """Create an item, or a new version of `item`; optionally submit it for review at once."""
    _require(who, AUTHOR_ROLES, "只有命题人或题库管理员可以编写试题")
    with transaction(session):
        if item is None:
            version = create_item(session, draft, actor=who.actor, author_id=who.user_id)
        else:
            version = revise_item(
                session, item, draft, actor=who.actor, author_id=who.user_id, base_version_id=base_version_id
            )
        if submit:
            transition(session, version, "submit", who)
    return version


def review(
    session: Session, version: ItemVersion, action: str, who: Reviewer, comment: str = ""
) -> ItemVersion:
    """One review step on one version; ReviewError says why not."""
    with transaction(session):
        transition(session, version, action, who, comment)
    return version


def bulk_review(
    session: Session, version_ids: list[int], action: str, who: Reviewer, comment: str = ""
) -> BulkResult:
    """One review step on many versions (the reviewer's queue); refused ones are listed."""
    if not version_ids:
        raise ReviewError("请先勾选试题")
    with transaction(session):
        return bulk_transition(session, version_ids, action, who, comment)


def tag(session: Session, version: ItemVersion, area_id: int | None, who: Reviewer) -> None:
    """Set the knowledge area of a version (reviewers tag unclassified imports)."""
    _require(who, REVIEW_ROLES, "只有审题人或题库管理员可以归类试题")
    with transaction(session):
        tag_area(session, version, area_id, actor=who.actor)


# ----- item sets and images -----


def create_set(
    session: Session, who: Reviewer, *, title: str, stimulus: str, media: list[dict[str, Any]]
) -> ItemSet:
    """A new item set (题组) whose stimulus its child items share."""
    with transaction(session):
        return create_item_set(session, title=title, stimulus=stimulus, media=media, actor=who.actor)


def update_set(
    session: Session,
    item_set: ItemSet,
    who: Reviewer,
    *,
    title: str,
    stimulus: str,
    media: list[dict[str, Any]],
) -> ItemSet:
    """Change a set's stimulus (refused once a locked form delivers it)."""
    with transaction(session):
        return update_item_set(
            session, item_set, title=title, stimulus=stimulus, media=media, actor=who.actor
        )


def upload_media(session: Session, name: str, data: bytes) -> dict[str, Any]:
    """Store an uploaded image; returns the reference an item version keeps."""
    with transaction(session):
        return save_media(session, name, data)


# ----- import -----


def run_import(
    session: Session,
    path: Path,
    who: Reviewer,
    *,
    status: str = IN_REVIEW,
    dry_run: bool,
    name: str | None = None,
    default_levels: list[int] | None = None,
) -> ImportReport:
    """Import a file (all or nothing, one transaction) as `who`, an author or bank manager, who is recorded as
    the versions' author: they wait for review (or stay drafts) and a second person approves them."""
    parsed = read_import(path, name=name, default_levels=default_levels)
    return store_import(session, parsed, who, status=status, dry_run=dry_run, source=str(path))


def read_import(path: Path, *, name: str | None = None, default_levels: list[int] | None = None) -> ParsedFile:
    """Read an import file through the bounded readers (no database): the first half of `run_import`."""
    return read_file(path, name=name, default_levels=default_levels)


def store_import(
    session: Session,
    parsed: ParsedFile,
    who: Reviewer,
    *,
    status: str = IN_REVIEW,
    dry_run: bool,
    source: str = "",
    progress: Callable[[float], None] | None = None,
) -> ImportReport:
    """Store a read file as `run_import` does: the second half, which a job runs after reading the file
    (`progress`: the fraction of new items written, told between the import's short transactions)."""
    _require(who, AUTHOR_ROLES, "只有命题人或题库管理员可以导入试题")
    if status not in IMPORT_STATUSES:
        raise ImportStatusRefused(status)
    return import_parsed(
        session,
        parsed,
        actor=who.actor,
        status=status,
        dry_run=dry_run,
        author_id=who.user_id,
        source=source,
        progress=progress,
    )


def approve_import_batch(session: Session, batch_id: int, who: Reviewer, comment: str = "") -> BulkResult:
    """A reviewer who did not import it approves an import batch's versions still in review (one transaction)."""
    with transaction(session):
        return approve_batch(session, batch_id, who, comment)


# ----- attributes -----


def define_attribute(
    session: Session,
    who: Reviewer,
    *,
    name: str,
    label: str,
    kind: str,
    values: list[str] | dict[str, Any],
) -> AttributeDefinition:
    """Create or change a bank attribute (audited); a change stranding a stored version's value is refused."""
    _require(who, MANAGER_ROLES, "只有题库管理员可以定义试题属性")
    with transaction(session):
        return attributes.define_attribute(session, name=name, label=label, kind=kind, values=values, actor=who.actor)


# ----- the knowledge tree -----


def seed_standard_tree(session: Session, actor: str) -> int:
    """Create the shipped level-5 tree and weight table if the bank has none; returns the areas created."""
    with transaction(session):
        return ensure_standard_tree(session, actor)


def add_area(
    session: Session,
    who: Reviewer,
    *,
    level: int,
    part: str,
    code: str,
    name: str,
    kind: str,
    parent_id: int | None,
) -> KnowledgeArea:
    """A new area under `parent_id` (or at the root) of a level's tree."""
    with transaction(session):
        return create_area(
            session,
            level=level,
            part=part,
            code=code,
            name=name,
            kind=kind,
            parent_id=parent_id,
            actor=who.actor,
        )


def rename_area(
    session: Session,
    area: KnowledgeArea,
    who: Reviewer,
    *,
    name: str | None,
    code: str | None,
    kind: str | None,
) -> KnowledgeArea:
    """Rename, re-code or re-classify an area; items keep their tag because they point at its id."""
    with transaction(session):
        return update_area(session, area, actor=who.actor, name=name, code=code, kind=kind)


def relocate_area(
    session: Session, area: KnowledgeArea, who: Reviewer, *, parent_id: int | None, position: int | None
) -> KnowledgeArea:
    """Move an area, with its subtree and items, under another parent of the same tree."""
    with transaction(session):
        return move_area(session, area, parent_id=parent_id, position=position, actor=who.actor)


def merge_area(
    session: Session, area: KnowledgeArea, target_id: int | None, who: Reviewer
) -> tuple[KnowledgeArea, int]:
    """Merge `area` into the area `target_id`; returns the target and how many versions now count for it."""
    target = session.get(KnowledgeArea, target_id or 0)
    if target is None:
        raise TreeError("请选择合并到哪个知识点")
    with transaction(session):
        return target, merge_areas(session, area, target, actor=who.actor)


def set_weights(session: Session, level: int, part: str, shares: dict[int, float], who: Reviewer) -> None:
    """Replace the weight table (比重表) of a level and part."""
    with transaction(session):
        set_weight_table(session, level, part, shares, actor=who.actor)

"""Versions (immutable, diffable, frozen by locked forms) and the two-person review state machine."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.audit import AuditEvent
from item_bank.diffs import diff_versions
from item_bank.models import LOCKED, Blueprint, Form, FormItem, Item, ItemVersion, ReviewComment
from item_bank.review import Reviewer, ReviewError, allowed_actions, bulk_transition, retire_item, transition
from item_bank.standard_tree import ensure_standard_tree
from item_bank.versions import (
    EditConflict,
    ItemDraft,
    ItemValidationError,
    VersionFrozenError,
    create_item,
    history,
    revise_item,
)

AUTHOR = Reviewer("user:author", 1, frozenset({"author"}))
REVIEWER = Reviewer("user:reviewer", 2, frozenset({"reviewer"}))
SELF_REVIEWER = Reviewer("user:author", 1, frozenset({"author", "reviewer"}))
MANAGER = Reviewer("user:manager", 3, frozenset({"bank_manager"}))


def draft(stem: str = "发现火情应当首先（ ）。", key: str = "B") -> ItemDraft:
    return ItemDraft(type="single", stem=stem, content={"options": ["逃离", "报警", "围观"]}, key=key)


def new_item(session: Session) -> ItemVersion:
    version = create_item(session, draft(), actor=AUTHOR.actor, author_id=AUTHOR.user_id)
    session.commit()
    return version


def approved_item(session: Session) -> ItemVersion:
    version = new_item(session)
    transition(session, version, "submit", AUTHOR)
    transition(session, version, "approve", REVIEWER)
    session.commit()
    return version


def actions(session: Session) -> list[str]:
    return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_create_validates_and_names_every_field(session: Session) -> None:
    with pytest.raises(ItemValidationError) as info:
        create_item(
            session,
            ItemDraft(type="single", stem="", content={"options": ["甲", "乙"]}, key="C"),
            actor="a",
            author_id=1,
        )
    assert [p.field for p in info.value.problems] == ["stem", "key"]
    version = new_item(session)
    assert version.version_no == 1 and version.status == "draft" and version.item.external_id.startswith("Q")


def test_review_happy_path_and_audit(session: Session) -> None:
    version = new_item(session)
    assert [t.action for t in allowed_actions(version, AUTHOR)] == ["submit", "discard"]
    transition(session, version, "submit", AUTHOR)
    transition(session, version, "return", REVIEWER, "选项 C 不合理")
    assert version.status == "draft"
    transition(session, version, "submit", AUTHOR)
    transition(session, version, "approve", REVIEWER)
    session.commit()
    assert version.status == "approved" and version.reviewer_id == 2 and version.reviewed_at is not None
    assert actions(session) == ["item.create", "item.submit", "item.return", "item.submit", "item.approve"]
    comment = session.scalar(select(ReviewComment))
    assert comment is not None and comment.text == "选项 C 不合理"


def test_state_machine_refusals(session: Session) -> None:
    version = new_item(session)
    with pytest.raises(ReviewError, match="不能审核通过"):
        transition(session, version, "approve", REVIEWER)  # still a draft
    transition(session, version, "submit", AUTHOR)
    with pytest.raises(ReviewError, match="自己编写"):
        transition(session, version, "approve", SELF_REVIEWER)
    with pytest.raises(ReviewError, match="审核通过需要审题人角色"):
        transition(session, version, "approve", AUTHOR)
    with pytest.raises(ReviewError, match="必须填写意见"):
        transition(session, version, "return", REVIEWER, "  ")
    assert version.status == "in_review"


def test_bulk_approve_lists_refusals(session: Session) -> None:
    mine = create_item(session, draft("甲题（ ）"), actor="x", author_id=2)  # written by the reviewer
    theirs = create_item(session, draft("乙题（ ）"), actor="x", author_id=1)
    other = create_item(session, draft("丙题（ ）"), actor="x", author_id=1)
    for v in (mine, theirs):
        transition(session, v, "submit", AUTHOR)
    result = bulk_transition(session, [mine.id, theirs.id, other.id, 9999], "approve", REVIEWER)
    assert result.done == [theirs.id]
    assert [vid for vid, _ in result.refused] == [mine.id, other.id, 9999]


def test_revision_keeps_history_and_diffs(session: Session) -> None:
    v1 = approved_item(session)
    item = v1.item
    v2 = revise_item(
        session,
        item,
        draft(stem="发现火情时应当首先（ ）。", key="B"),
        actor=AUTHOR.actor,
        author_id=1,
        base_version_id=v1.id,
    )
    session.commit()
    assert [v.version_no for v in history(session, item)] == [1, 2]
    assert item.current_version_id == v1.id  # the approved version stays the one shown
    diffs = diff_versions(session, v1, v2)
    assert [d.field for d in diffs] == ["stem"]
    assert ("insert", "时") in diffs[0].right
    with pytest.raises(EditConflict):
        revise_item(session, item, draft(), actor="a", author_id=1, base_version_id=v1.id)
    transition(session, v2, "submit", AUTHOR)
    transition(session, v2, "approve", REVIEWER)
    session.commit()
    session.refresh(v1)
    assert v1.status == "retired" and item.current_version_id == v2.id
    assert "item.supersede" in actions(session)


def test_stored_version_content_never_changes(session: Session) -> None:
    version = new_item(session)
    version.stem = "偷偷改题干"
    with pytest.raises(VersionFrozenError, match="新版本"):
        session.flush()
    session.rollback()


def lock_form(session: Session, version: ItemVersion) -> Form:
    bp = Blueprint(name="五级理论", level=5, part="theory", duration_s=5400)
    session.add(bp)
    session.flush()
    form = Form(code="F-1", blueprint_id=bp.id)
    form.items.append(FormItem(item_version_id=version.id, position=1, section="single", points=1.0))
    session.add(form)
    session.commit()
    form.status = LOCKED
    session.commit()
    return form


def test_version_in_locked_form_is_frozen(session: Session) -> None:
    ensure_standard_tree(session, "t")
    version = approved_item(session)
    lock_form(session, version)
    version.knowledge_area_id = None if version.knowledge_area_id else 1
    with pytest.raises(VersionFrozenError, match="锁定"):
        session.flush()
    session.rollback()
    session.delete(session.get(ItemVersion, version.id))
    with pytest.raises(VersionFrozenError, match="不能删除"):
        session.flush()
    session.rollback()
    # A fix is a new version; the locked form keeps delivering the old one.
    item = session.get(Item, version.item_id)
    assert item is not None
    v2 = revise_item(session, item, draft(key="B", stem="改正后的题干（ ）"), actor="a", author_id=1)
    transition(session, v2, "submit", AUTHOR)
    transition(session, v2, "approve", REVIEWER)
    session.commit()
    form_item = session.scalar(select(FormItem))
    assert form_item is not None and form_item.item_version_id == version.id
    assert session.get(ItemVersion, version.id).stem == "发现火情应当首先（ ）。"


def test_only_approved_versions_enter_a_form(session: Session) -> None:
    version = new_item(session)
    with pytest.raises(VersionFrozenError, match="审核通过"):
        lock_form(session, version)
    session.rollback()


def test_retire_item_keeps_history(session: Session) -> None:
    v1 = approved_item(session)
    item = v1.item
    revise_item(session, item, draft(stem="新题干（ ）"), actor="a", author_id=1)
    with pytest.raises(ReviewError, match="必须填写意见"):
        retire_item(session, item, MANAGER, "")
    assert retire_item(session, item, MANAGER, "法规已修订") == 2
    session.commit()
    assert {v.status for v in history(session, item)} == {"retired"}
    assert len(history(session, item)) == 2


def test_item_set_stimulus_frozen_by_locked_form(session: Session) -> None:
    from item_bank.item_sets import create_item_set, set_children, update_item_set

    item_set = create_item_set(session, title="夜巡", stimulus="某小区夜间……", media=[], actor="a")
    child = create_item(session, ItemDraft(type="judge", stem="应当立即报警。", content={"options": ["正确", "错误"]},
                                           key="A", item_set_id=item_set.id), actor="a", author_id=1)  # fmt: skip
    update_item_set(session, item_set, title="夜巡", stimulus="某小区夜间巡逻时……", media=[], actor="a")
    transition(session, child, "submit", AUTHOR)
    transition(session, child, "approve", REVIEWER)
    session.commit()
    assert [v.id for v in set_children(session, item_set)] == [child.id]
    lock_form(session, child)
    with pytest.raises(VersionFrozenError, match="锁定"):
        update_item_set(session, item_set, title="夜巡", stimulus="改过的材料", media=[], actor="a")

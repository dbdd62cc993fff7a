"""Writing items: every edit is a new immutable version with its author and time.

`create_item` and `revise_item` validate through the item's type and add a draft version;
`history` lists them (`item_bank.diffs` compares two; `item_bank.item_sets` keeps the stimuli that
items share); a flush guard refuses any change to a stored version's content and any change at all to
a version frozen by a locked form.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, inspect, select, true
from sqlalchemy.orm import Session

from item_bank.attributes import AttributeError_, cognitive_level, normalise_attributes
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel.errors import DomainError
from item_bank.models import (
    APPROVED,
    DRAFT,
    LOCKED,
    RETIRED,
    Form,
    FormItem,
    Item,
    ItemSet,
    ItemVersion,
    KnowledgeArea,
)
from item_bank.text import normalise_stem
from item_bank.types import ContentProblem, ItemContent, item_type, item_types

# 题型 names for messages (item_bank.types holds the labels).
FIELD_TYPE_LABELS = {t.name: t.label for t in item_types()}


class ItemError(DomainError):
    """An item operation refused, with the field (if any) and a reason the author can act on."""

    default_code = "item_refused"
    default_status = 409

    def __init__(
        self,
        message: str,
        field: str = "",
        problems: list[ContentProblem] | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, field=field)
        self.field = field
        self.problems = list(problems or [])


class ItemValidationError(ItemError):
    """The content is not a valid item of its type; `problems` lists every field at fault."""

    default_code = "item_invalid"
    default_status = 422

    def __init__(self, problems: list[ContentProblem]) -> None:
        super().__init__("；".join(f"{p.field}: {p.reason}" for p in problems), problems[0].field, problems)


class VersionFrozenError(ItemError):
    """Someone tried to change or delete a stored version (content never changes; locked forms freeze all)."""

    default_code = "version_frozen"


class EditConflict(ItemError):
    """The author edited an older version than the newest one (someone else saved in between)."""

    default_code = "edit_conflict"


# The fields an author writes in every item, whatever else a copy of it (a draft, an export) carries.
AUTHORED_FIELDS = ("type", "stem", "content", "key", "points", "levels", "part")
# What a stored version never changes; everything else about a version is lifecycle or statistics.
CONTENT_FIELDS = (
    *AUTHORED_FIELDS,
    "item_set_id",
    "set_position",
    "enemy_group",
    "media",
    "source",
    "cognitive_level",
    "attributes",
    "stem_norm",
    "item_id",
    "version_no",
    "author_id",
    "created_at",
)
# Fields that may change on a stored version that no locked form uses (tagging and review).
MUTABLE_FIELDS = ("knowledge_area_id", "status", "reviewer_id", "reviewed_at")
FIELD_LABELS = {
    "type": "题型",
    "stem": "题干",
    "options": "选项",
    "key": "答案",
    "points": "分值",
    "levels": "等级",
    "part": "科目",
    "knowledge_area": "知识点",
    "item_set": "所属题组",
    "enemy_group": "互斥组",
    "media": "图片",
    "source": "来源",
    "cognitive_level": "认知层次",
    "attributes": "属性",
    "rubric": "评分要点",
    "model_answer": "参考答案",
    "explanation": "解析",
}


@dataclass
class ItemDraft(ItemContent):
    """What an author submits: the content of one version plus where it sits in the bank.

    Built by keyword everywhere, so the inherited fields coming first changes no caller.
    """

    levels: list[int] = field(default_factory=lambda: [5])
    part: str = "theory"
    knowledge_area_id: int | None = None
    item_set_id: int | None = None
    set_position: int = 0
    enemy_group: str | None = None
    source: str = ""
    cognitive_level: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_version(cls, v: ItemVersion) -> ItemDraft:
        return cls(
            **authored(v),
            knowledge_area_id=v.knowledge_area_id,
            item_set_id=v.item_set_id,
            set_position=v.set_position,
            enemy_group=v.enemy_group,
            media=list(v.media or []),
            source=v.source,
            cognitive_level=v.cognitive_level,
            attributes=dict(v.attributes or {}),
        )

    def as_content(self) -> ItemContent:
        return ItemContent(self.type, self.stem, self.content, self.key, self.points, self.media)


def authored(version: ItemVersion) -> dict[str, Any]:
    """The `AUTHORED_FIELDS` of a stored version, as copies a draft or an export may change freely."""
    values = {name: getattr(version, name) for name in AUTHORED_FIELDS}
    values["content"] = dict(version.content or {})
    values["levels"] = list(version.levels or [])
    return values


def content_of(version: ItemVersion) -> ItemContent:
    """The type-level view of a stored version (what types validate, render and score)."""
    return ItemContent(
        version.type, version.stem, dict(version.content or {}), version.key, version.points, version.media
    )


def set_type_problem(session: Session, set_id: int, type_name: str, item_id: int | None) -> str | None:
    """Why an item of `type_name` cannot join set `set_id`: assembly uses a set only when all its children
    share one type, so a mixed set would silently never reach a paper."""
    others = session.execute(
        select(ItemVersion.type, func.count())
        .join(Item, ItemVersion.id == func.coalesce(Item.head_version_id, Item.current_version_id))
        .where(ItemVersion.item_set_id == set_id, ItemVersion.status != RETIRED)
        .where(Item.id != item_id if item_id is not None else true())
        .group_by(ItemVersion.type)
    ).all()
    types = sorted({t for t, _ in others} - {type_name})
    if not types:
        return None
    item_set = session.get(ItemSet, set_id)
    name = item_set.external_id if item_set is not None else str(set_id)
    labels = "、".join(FIELD_TYPE_LABELS.get(t, t) for t in types)
    return (
        f"题组 {name} 的其他子题是{labels}，本题是{FIELD_TYPE_LABELS.get(type_name, type_name)}："
        "题组应只含一种题型，含多种题型的题组自动组卷时不会被选用"
    )


def draft_warnings(session: Session, draft: ItemDraft, item_id: int | None = None) -> list[ContentProblem]:
    """What the author should know though the draft may be saved: a set whose children would mix types (a
    paper delivers it, but assembly never picks it)."""
    if draft.item_set_id is None:
        return []
    mixed = set_type_problem(session, draft.item_set_id, draft.type, item_id)
    return [ContentProblem("item_set_id", mixed)] if mixed else []


def validate_draft(session: Session, draft: ItemDraft, item_id: int | None = None) -> list[ContentProblem]:
    """Every problem with `draft`: its type's rules plus levels, area and set references."""
    try:
        kind = item_type(draft.type)
    except KeyError as exc:
        return [ContentProblem("type", str(exc.args[0]))]
    if not kind.answerable:
        return [ContentProblem("type", "题组的情景材料请在题组中编辑，子题用各自的题型")]
    problems = kind.validate(draft.as_content())
    if not draft.levels or any(not isinstance(lv, int) or not 1 <= lv <= 5 for lv in draft.levels):
        problems.append(ContentProblem("levels", "至少选择一个等级（1-5）"))
    if draft.knowledge_area_id is not None:
        area = session.get(KnowledgeArea, draft.knowledge_area_id)
        if area is None:
            problems.append(ContentProblem("knowledge_area_id", "知识点不存在"))
        elif area.merged_into_id is not None:
            problems.append(
                ContentProblem("knowledge_area_id", f"知识点 {area.name} 已合并，请选择合并后的知识点")
            )
    if draft.item_set_id is not None and session.get(ItemSet, draft.item_set_id) is None:
        problems.append(ContentProblem("item_set_id", "题组不存在"))
    try:
        draft.cognitive_level = cognitive_level(draft.cognitive_level)
    except AttributeError_ as exc:
        problems.append(ContentProblem("cognitive_level", exc.message))
    try:
        draft.attributes = normalise_attributes(session, draft.attributes)
    except AttributeError_ as exc:
        problems.append(ContentProblem("attributes", exc.message))
    return problems


def _new_version(item: Item, number: int, draft: ItemDraft, author_id: int | None) -> ItemVersion:
    return ItemVersion(
        item_id=item.id,
        version_no=number,
        status=DRAFT,
        type=draft.type,
        stem=draft.stem,
        content=draft.content,
        key=draft.key,
        points=float(draft.points),
        levels=sorted(set(draft.levels)),
        part=draft.part,
        knowledge_area_id=draft.knowledge_area_id,
        item_set_id=draft.item_set_id,
        set_position=draft.set_position,
        enemy_group=draft.enemy_group or None,
        media=draft.media,
        source=draft.source,
        cognitive_level=draft.cognitive_level or None,
        attributes=dict(draft.attributes or {}),
        stem_norm=normalise_stem(draft.stem),
        author_id=author_id,
        created_at=utcnow(),
    )


def create_item(
    session: Session, draft: ItemDraft, *, actor: str, author_id: int | None, external_id: str | None = None
) -> ItemVersion:
    """A new item with its first version (a draft); raises ItemValidationError. The caller commits."""
    problems = validate_draft(session, draft)
    if external_id and session.scalar(select(Item.id).where(Item.external_id == external_id)):
        problems.append(ContentProblem("external_id", f"试题编号 {external_id} 已存在"))
    if problems:
        raise ItemValidationError(problems)
    item = Item(external_id=external_id or f"tmp-{uuid.uuid4().hex}", created_at=utcnow())
    session.add(item)
    session.flush()
    if not external_id:
        item.external_id = f"Q{item.id:06d}"
    version = _new_version(item, 1, draft, author_id)
    session.add(version)
    session.flush()
    item.current_version_id = version.id
    item.head_version_id = version.id
    audit(session, actor, "item.create", "item_version", version.id, None, _summary(version, item))
    return version


def latest_version(session: Session, item: Item) -> ItemVersion:
    version = session.scalar(
        select(ItemVersion)
        .where(ItemVersion.item_id == item.id)
        .order_by(ItemVersion.version_no.desc())
        .limit(1)
    )
    if version is None:
        raise ItemError(f"试题 {item.external_id} 没有任何版本")
    return version


def revise_item(
    session: Session,
    item: Item,
    draft: ItemDraft,
    *,
    actor: str,
    author_id: int | None,
    base_version_id: int | None = None,
) -> ItemVersion:
    """A new draft version of `item` (older versions stay as they were); the caller commits.

    `base_version_id` is the version the author started from; if a newer one exists the edit is
    refused with EditConflict rather than silently overwriting someone else's work.
    """
    latest = latest_version(session, item)
    if base_version_id is not None and base_version_id != latest.id:
        raise EditConflict(
            f"试题 {item.external_id} 已有更新的第 {latest.version_no} 版，请在最新版本上修改",
            "base_version_id",
        )
    if all(v.status == RETIRED for v in item.versions):
        raise ItemError(f"试题 {item.external_id} 已停用，不能再修改", "status")
    problems = validate_draft(session, draft)
    if problems:
        raise ItemValidationError(problems)
    version = _new_version(item, latest.version_no + 1, draft, author_id)
    session.add(version)
    session.flush()
    item.head_version_id = version.id
    current = item.current_version
    if current is None or current.status != APPROVED:
        item.current_version_id = version.id
    audit(
        session,
        actor,
        "item.revise",
        "item_version",
        version.id,
        {"version_id": latest.id, "version_no": latest.version_no},
        _summary(version, item),
    )
    return version


def tag_area(session: Session, version: ItemVersion, area_id: int | None, *, actor: str) -> None:
    """Set the knowledge area of a version no locked form uses (tagging an unclassified import)."""
    if area_id is not None:
        area = session.get(KnowledgeArea, area_id)
        if area is None or area.merged_into_id is not None:
            raise ItemError("知识点不存在或已合并", "knowledge_area_id")
    before = version.knowledge_area_id
    version.knowledge_area_id = area_id
    audit(
        session, actor, "item.tag_area", "item_version", version.id, {"area_id": before}, {"area_id": area_id}
    )


def history(session: Session, item: Item) -> list[ItemVersion]:
    """Every version of `item`, oldest first (retired ones included)."""
    return list(
        session.scalars(
            select(ItemVersion).where(ItemVersion.item_id == item.id).order_by(ItemVersion.version_no)
        )
    )


def locked_version_ids(session: Session, version_ids: list[int] | set[int]) -> set[int]:
    """The versions among `version_ids` that a locked form uses."""
    ids = list(version_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(FormItem.item_version_id)
            .join(Form, Form.id == FormItem.form_id)
            .where(Form.status == LOCKED, FormItem.item_version_id.in_(ids))
        )
    )


def form_usage(session: Session, version_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """For each version, the (form code, form status) pairs that use it."""
    usage: dict[int, list[tuple[str, str]]] = {}
    if not version_ids:
        return usage
    rows = session.execute(
        select(FormItem.item_version_id, Form.code, Form.status)
        .join(Form, Form.id == FormItem.form_id)
        .where(FormItem.item_version_id.in_(version_ids))
    ).all()
    for vid, code, status in rows:
        usage.setdefault(vid, []).append((code, status))
    return usage


def _summary(version: ItemVersion, item: Item) -> dict[str, Any]:
    return {
        "external_id": item.external_id,
        "version_no": version.version_no,
        "status": version.status,
        "type": version.type,
        "stem": version.stem[:200],
    }


def next_version_no(session: Session, item_id: int) -> int:
    return (
        session.scalar(select(func.max(ItemVersion.version_no)).where(ItemVersion.item_id == item_id)) or 0
    ) + 1


# ----- the immutability guard -----


@event.listens_for(Session, "before_flush")
def _guard_versions(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Refuse edits to stored version content, any change to a version a locked form uses, and
    forms built from versions that are not approved."""
    dirty = [obj for obj in session.dirty if isinstance(obj, ItemVersion) and session.is_modified(obj)]
    deleted = [obj for obj in session.deleted if isinstance(obj, ItemVersion)]
    for version in dirty:
        state = inspect(version)
        changed = [name for name in CONTENT_FIELDS if state.attrs[name].history.has_changes()]
        if changed:
            raise VersionFrozenError(
                f"试题版本 {version.id} 已保存，不能修改 {', '.join(changed)}；修改请保存为新版本", changed[0]
            )
    touched = {v.id for v in dirty if v.id is not None} | {v.id for v in deleted if v.id is not None}
    if touched:
        frozen = _locked_ids_without_autoflush(session, touched)
        for version in dirty:
            if version.id in frozen:
                state = inspect(version)
                changed = [name for name in MUTABLE_FIELDS if state.attrs[name].history.has_changes()]
                # Retiring a superseded version does not alter what the locked form delivers.
                if changed and not (changed == ["status"] and version.status == RETIRED):
                    raise VersionFrozenError(f"试题版本 {version.id} 已用于锁定的试卷，不能修改", changed[0])
        for version in deleted:
            if version.id in frozen:
                raise VersionFrozenError(f"试题版本 {version.id} 已用于锁定的试卷，不能删除")
    new_form_items = [obj for obj in session.new if isinstance(obj, FormItem)]
    if new_form_items:
        ids = {
            fi.item_version_id or (fi.item_version.id if fi.item_version else None) for fi in new_form_items
        }
        statuses = _statuses_without_autoflush(session, {i for i in ids if i is not None})
        for fi in new_form_items:
            version = fi.item_version
            status = version.status if version is not None else statuses.get(fi.item_version_id)
            if status is not None and status != APPROVED:
                raise VersionFrozenError(
                    f"只有已审核通过的试题版本才能组卷（版本 {fi.item_version_id} 状态为 {status}）"
                )


def _locked_ids_without_autoflush(session: Session, ids: set[int]) -> set[int]:
    with session.no_autoflush:
        return locked_version_ids(session, ids)


def _statuses_without_autoflush(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    with session.no_autoflush:
        return dict(
            session.execute(select(ItemVersion.id, ItemVersion.status).where(ItemVersion.id.in_(ids))).all()
        )

"""Two-person review of item versions: the allowed transitions in one table, one function applying them.

    draft → in_review → approved → retired;  in_review → draft (returned with comments);  draft → retired

Nobody approves a version they wrote. Approving a version retires the item's previously approved one
(an item has at most one approved version, the one forms are built from). Every transition writes
an audit row in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.db import utcnow
from item_bank.kernel.errors import DomainError
from item_bank.kernel.states import StateMachine
from item_bank.models import APPROVED, DRAFT, IN_REVIEW, RETIRED, Item, ItemVersion, ReviewComment
from item_bank.types import item_type
from item_bank.versions import content_of

STATUS_LABELS = {DRAFT: "草稿", IN_REVIEW: "待审核", APPROVED: "已通过", RETIRED: "已停用"}


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    source: str
    target: str
    roles: tuple[str, ...]
    needs_comment: bool = False


# The whole state machine. Roles: who may take the step (admin holds every role).
TRANSITIONS: tuple[Transition, ...] = (
    Transition("submit", "提交审核", DRAFT, IN_REVIEW, ("author", "bank_manager")),
    Transition("approve", "审核通过", IN_REVIEW, APPROVED, ("reviewer",)),
    Transition("return", "退回修改", IN_REVIEW, DRAFT, ("reviewer",), needs_comment=True),
    Transition("retire", "停用", APPROVED, RETIRED, ("reviewer", "bank_manager"), needs_comment=True),
    Transition("discard", "放弃草稿", DRAFT, RETIRED, ("author", "bank_manager")),
)
BY_ACTION = {t.action: t for t in TRANSITIONS}
# The roles as staff read them (the same words as the staff accounts' page).
ROLE_LABELS = {"author": "命题人", "reviewer": "审题人", "bank_manager": "题库管理员", "admin": "系统管理员"}


def roles_text(roles: tuple[str, ...]) -> str:
    return "或".join(ROLE_LABELS.get(r, r) for r in roles)
ACTION_LABELS = {t.action: t.label for t in TRANSITIONS}


class ReviewError(DomainError):
    """A review step refused: the version, its state and the reason."""

    default_code = "review_refused"
    default_status = 409

    def __init__(self, message: str, version_id: int | None = None) -> None:
        super().__init__(message, version_id=version_id)
        self.version_id = version_id


def _state_refusal(version: ItemVersion, action: str) -> str:
    return (
        f"第 {version.version_no} 版当前状态为“{STATUS_LABELS.get(version.status, version.status)}”，"
        f"不能{ACTION_LABELS.get(action, action)}"
    )


REVIEW_LIFECYCLE = StateMachine(
    "试题版本",
    {(t.source, t.target): frozenset({t.action}) for t in TRANSITIONS},
    entity="item_version",
    state_labels=STATUS_LABELS,
    action_labels=ACTION_LABELS,
    refuse=lambda version, action, _current, _target: ReviewError(
        _state_refusal(version, action), version.id
    ),
)


@dataclass(frozen=True)
class Reviewer:
    """Who takes a step: the audit name, the staff user id (None for system actors) and their roles."""

    actor: str
    user_id: int | None
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)


def allowed_actions(version: ItemVersion, who: Reviewer) -> list[Transition]:
    """The steps `who` may take on `version` now (for buttons on the screen)."""
    return [t for t in TRANSITIONS if t.source == version.status and _refusal(version, who, t) is None]


def _refusal(version: ItemVersion, who: Reviewer, step: Transition) -> str | None:
    if not REVIEW_LIFECYCLE.allows(step.action, version.status, step.target):
        return _state_refusal(version, step.action)
    if not who.has_role(*step.roles):
        return f"{step.label}需要{roles_text(step.roles)}角色"
    if step.action == "approve" and who.user_id is not None and version.author_id == who.user_id:
        return "不能审核通过自己编写的试题（需另一位审题人）"
    return None


def supersede(session: Session, version: ItemVersion, actor: str, reason: str) -> None:
    """Retire the item's other approved versions: an item has at most one approved version."""
    for other in session.scalars(
        select(ItemVersion).where(
            ItemVersion.item_id == version.item_id,
            ItemVersion.status == APPROVED,
            ItemVersion.id != version.id,
        )
    ):
        REVIEW_LIFECYCLE.apply(
            session, other, "retire", RETIRED, actor, audit_action="item.supersede", reason=reason
        )


def transition(
    session: Session, version: ItemVersion, action: str, who: Reviewer, comment: str = ""
) -> ItemVersion:
    """Apply one review step to `version` (the caller commits); raises ReviewError naming why not."""
    step = BY_ACTION.get(action)
    if step is None:
        raise ReviewError(f"未知操作 {action!r}", version.id)
    reason = _refusal(version, who, step)
    if reason:
        raise ReviewError(reason, version.id)
    comment = (comment or "").strip()
    if step.needs_comment and not comment:
        raise ReviewError(f"{step.label}必须填写意见", version.id)
    if step.action == "submit":
        problems = item_type(version.type).validate(content_of(version))
        if problems:
            raise ReviewError(
                "内容不完整，不能提交审核：" + "；".join(p.reason for p in problems), version.id
            )
    item = session.get(Item, version.item_id)
    assert item is not None
    if step.action == "approve":
        version.reviewer_id = who.user_id
        version.reviewed_at = utcnow()
        supersede(session, version, who.actor, reason=f"被第 {version.version_no} 版取代")
        item.current_version_id = version.id
    elif step.target == RETIRED and item.current_version_id == version.id:
        # Show the newest version still alive, or keep the retired one so history stays reachable.
        alive = session.scalar(
            select(ItemVersion)
            .where(
                ItemVersion.item_id == item.id, ItemVersion.status != RETIRED, ItemVersion.id != version.id
            )
            .order_by(ItemVersion.version_no.desc())
            .limit(1)
        )
        if alive is not None:
            item.current_version_id = alive.id
    if comment:
        session.add(
            ReviewComment(
                item_version_id=version.id, author_id=who.user_id, text=comment, created_at=utcnow()
            )
        )
    REVIEW_LIFECYCLE.apply(
        session,
        version,
        step.action,
        step.target,
        who.actor,
        audit_action=f"item.{step.action}",
        reason=comment,
        external_id=item.external_id,
        version_no=version.version_no,
    )
    return version


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def bulk_transition(
    session: Session, version_ids: list[int], action: str, who: Reviewer, comment: str = ""
) -> BulkResult:
    """Apply one step to many versions (a reviewer's queue); refusals are listed, the rest applied.

    A step the user's roles never allow is refused once, as a whole, rather than once per version; each
    listed refusal names the item by its number and version ("试题 BAY-0001 第 2 版：…").
    """
    step = BY_ACTION.get(action)
    if step is None:
        raise ReviewError(f"未知操作 {action!r}")
    if not who.has_role(*step.roles):
        raise ReviewError(f"{step.label}需要{roles_text(step.roles)}角色，当前账号没有；未处理任何试题")
    result = BulkResult()
    versions = {v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_(version_ids)))}
    numbers = dict(
        session.execute(
            select(Item.id, Item.external_id).where(Item.id.in_({v.item_id for v in versions.values()}))
        ).all()
    )
    for vid in version_ids:
        version = versions.get(vid)
        if version is None:
            result.refused.append((vid, f"版本 {vid} 不存在"))
            continue
        try:
            transition(session, version, action, who, comment)
            result.done.append(vid)
        except ReviewError as exc:
            name = f"试题 {numbers.get(version.item_id, version.item_id)} 第 {version.version_no} 版"
            result.refused.append((vid, f"{name}：{exc}"))
    return result


def retire_item(session: Session, item: Item, who: Reviewer, reason: str) -> int:
    """Retire every live version of `item` (history kept); returns how many versions were retired."""
    count = 0
    for version in session.scalars(
        select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.status.in_((APPROVED, DRAFT)))
    ):
        transition(session, version, "retire" if version.status == APPROVED else "discard", who, reason)
        count += 1
    if count == 0:
        raise ReviewError(f"试题 {item.external_id} 没有可停用的版本（待审核的版本请先退回）")
    return count


def comments_for(session: Session, version_ids: list[int]) -> dict[int, list[ReviewComment]]:
    out: dict[int, list[ReviewComment]] = {}
    if not version_ids:
        return out
    for c in session.scalars(
        select(ReviewComment)
        .where(ReviewComment.item_version_id.in_(version_ids))
        .order_by(ReviewComment.created_at)
    ):
        out.setdefault(c.item_version_id, []).append(c)
    return out

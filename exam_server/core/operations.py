"""The writes of core: staff accounts (create, disable, enable, passwords, roles) and the end of their sessions.

Every change is audited in its own transaction. A change that should throw the account out (a new password,
disabled, new roles) raises its session epoch in that same transaction, so every copy of an earlier login
cookie stops working at its next request (core/auth.py), and the open connections are told once it commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.auth import announce_revoked
from exam_server.core.models import ROLES, LoginThrottle, User
from exam_server.core.passwords import password_problem
from exam_server.core.security import account_key, hash_password, verify_password
from item_bank.audit import audit
from item_bank.kernel import DomainError, transaction

ROLE_LABELS = {
    "author": "命题人",
    "reviewer": "审题人",
    "bank_manager": "题库管理员",
    "pilot_unit": "试点单位工作人员",
    "centre_staff": "鉴定中心工作人员",
    "proctor": "监考员",
    "grader": "阅卷员",
    "chief_grader": "阅卷组长",
    "admin": "系统管理员",
    "province": "省级管理",
    "police": "治安部门（只读）",
}


class AccountError(DomainError):
    """A staff account cannot be created or changed as asked."""

    default_code = "account"
    default_status = 400


class OrganisationDirectory(Protocol):
    """How accounts name their organisation, implemented by exam_server/organisations (a layer above core)."""

    def resolve(self, session: Session, ref: str) -> int:
        """The id of the centre, unit or province whose code (or name) is `ref`; a DomainError naming the field."""

    def describe(self, session: Session, organisation_id: int | None) -> str:
        """The organisation in words ("鉴定中心 X（C001）"), "" for none."""


_directory: list[OrganisationDirectory] = []


def register_organisation_directory(directory: OrganisationDirectory) -> None:
    """Make `directory` the one organisations answer from (exam_server/organisations/operations.py on import)."""
    _directory[:] = [directory]


def organisation_directory() -> OrganisationDirectory:
    if not _directory:
        raise RuntimeError("no organisation directory registered (exam_server.organisations.operations not imported)")
    return _directory[0]


def _state(user: User) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name, "roles": list(user.roles),
            "active": user.active}


def _end_sessions(user: User) -> None:
    """Raise the account's session epoch (in SQL, so two changes at once both count); the caller commits."""
    user.session_epoch = User.session_epoch + 1  # type: ignore[assignment]


def _check_password(password: str, username: str) -> None:
    problem = password_problem(password, username)
    if problem:
        raise AccountError(problem, code="weak_password")


def _check_roles(roles: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(roles))
    unknown = [r for r in chosen if r not in ROLES]
    if unknown:
        raise AccountError(f"没有这个角色：{'、'.join(unknown)}", code="unknown_role")
    if not chosen:
        raise AccountError("请至少选择一个角色。", code="no_role")
    return chosen


def _other_active_admins(session: Session, user: User) -> int:
    admins = session.scalars(select(User).where(User.active.is_(True), User.id != user.id)).all()
    return sum(1 for other in admins if "admin" in other.roles)


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"没有用户 {username}", code="no_such_user", status=404)
    return user


def create_user(
    session: Session, *, username: str, display_name: str, roles: list[str], password: str, hash_profile: str,
    actor: str = "system:accounts", organisation_id: int | None = None,
) -> User:
    """A new staff account holding `roles`, a member of organisation `organisation_id` (a centre, a unit or the
    province; None: none, see organisations/scope.py); its username is unique and its password meets the policy.
    Commits."""
    username = username.strip()
    if not username or len(username) > 80:
        raise AccountError("用户名应为 1 到 80 个字符。", code="invalid_username")
    _check_password(password, username)
    chosen = _check_roles(roles)
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"用户 {username} 已存在", code="user_exists")
    with transaction(session):
        user = User(username=username, display_name=(display_name.strip() or username)[:120],
                    password_hash=hash_password(password, hash_profile), roles=chosen,
                    organisation_id=organisation_id)
        session.add(user)
        session.flush()
        audit(session, actor, "user.created", "user", user.id, after=_state(user))
    return user


def end_all_sessions(session: Session, user: User) -> None:
    """Log the account out everywhere (its logout does this: a copied cookie must not outlive it). Commits."""
    with transaction(session):
        _end_sessions(user)
    announce_revoked(f"u:{user.id}")


def change_own_password(
    session: Session, user: User, current: str, new: str, confirm: str, hash_profile: str,
) -> None:
    """The account holder's new password, after their current one; ends every session of theirs. Commits."""
    if not verify_password(user.password_hash, current):
        raise AccountError("当前密码不正确。", code="wrong_password")
    if new != confirm:
        raise AccountError("两次输入的新密码不一致。", code="password_mismatch")
    _check_password(new, user.username)
    with transaction(session):
        user.password_hash = hash_password(new, hash_profile)
        _end_sessions(user)
        audit(session, f"user:{user.username}", "user.password_changed", "user", user.id)
    announce_revoked(f"u:{user.id}")


def reset_password(session: Session, user: User, new: str, hash_profile: str, actor: str) -> None:
    """An administrator sets the account's password; every session of the account ends. Commits."""
    _check_password(new, user.username)
    with transaction(session):
        user.password_hash = hash_password(new, hash_profile)
        _end_sessions(user)
        audit(session, actor, "user.password_reset", "user", user.id)
    announce_revoked(f"u:{user.id}")


def set_active(session: Session, user: User, active: bool, actor: str, by: User | None = None) -> None:
    """Disable (every session ends) or enable the account; never oneself, never the last administrator. Commits."""
    if user.active == active:
        return
    if not active:
        if by is not None and by.id == user.id:
            raise AccountError("不能停用自己的账号。", code="self_disable", status=409)
        if "admin" in user.roles and _other_active_admins(session, user) == 0:
            raise AccountError("这是最后一个系统管理员账号，不能停用。", code="last_admin", status=409)
    before = _state(user)
    with transaction(session):
        user.active = active
        if not active:
            _end_sessions(user)
        audit(session, actor, "user.enabled" if active else "user.disabled", "user", user.id,
              before=before, after=_state(user))
    if not active:
        announce_revoked(f"u:{user.id}")


def set_roles(session: Session, user: User, roles: Iterable[str], actor: str) -> None:
    """Give the account exactly `roles`; the last administrator keeps admin. Its sessions end. Commits."""
    chosen = _check_roles(roles)
    if sorted(chosen) == sorted(user.roles):
        return
    if "admin" in user.roles and "admin" not in chosen and user.active and _other_active_admins(session, user) == 0:
        raise AccountError("这是最后一个系统管理员账号，不能去掉管理员角色。", code="last_admin", status=409)
    before = _state(user)
    with transaction(session):
        user.roles = chosen
        _end_sessions(user)
        audit(session, actor, "user.roles_changed", "user", user.id, before=before, after=_state(user))
    announce_revoked(f"u:{user.id}")


def set_organisation(session: Session, user: User, organisation_id: int | None, actor: str) -> None:
    """Make the account a member of organisation `organisation_id` (None: of none); audited. What it sees changes
    at its next request (scope is read per request), so its sessions go on. Commits."""
    if user.organisation_id == organisation_id:
        return
    with transaction(session):
        before = {"organisation_id": user.organisation_id}
        user.organisation_id = organisation_id
        session.flush()
        audit(session, actor, "user.organisation_changed", "user", user.id, before=before,
              after={"organisation_id": organisation_id})


def unlock_login(session: Session, kind: str, name: str, actor: str, entity: str, entity_id: Any) -> bool:
    """Forget an account's failed logins, so its holder may try again at once; audited. False if it had none.
    Commits."""
    row = session.get(LoginThrottle, account_key(kind, name))
    if row is None:
        return False
    with transaction(session):
        before = {"failures": row.failures, "blocked_until": row.blocked_until.isoformat() if row.blocked_until else None}
        session.delete(row)
        audit(session, actor, "login.unlocked", entity, entity_id, before=before)
    return True

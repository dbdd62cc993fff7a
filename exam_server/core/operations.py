"""The writes of core: staff accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.passwords import password_problem
from exam_server.core.security import hash_password
from item_bank.kernel import DomainError, transaction


class AccountError(DomainError):
    """A staff account cannot be created or changed as asked."""

    default_code = "account"
    default_status = 400


def create_user(
    session: Session, *, username: str, display_name: str, roles: list[str], password: str, hash_profile: str
) -> User:
    """A new staff account holding `roles`; its username is unique and its password meets the policy. Commits."""
    problem = password_problem(password, username)
    if problem:
        raise AccountError(problem, code="weak_password")
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"用户 {username} 已存在", code="user_exists")
    with transaction(session):
        user = User(username=username, display_name=display_name, password_hash=hash_password(password, hash_profile),
                    roles=list(roles))
        session.add(user)
    return user

"""Who is logged in: staff accounts and candidates (by admission ticket), and role checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Protocol, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.extensions import db, login_manager
from item_bank.kernel import user_actor

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class SignedIn:
    """The flags Flask-Login reads from whoever is logged in, staff or candidate alike."""

    # Keyword-only so each principal's own fields come first positionally.
    is_authenticated: bool = field(default=True, kw_only=True)
    is_active: bool = field(default=True, kw_only=True)
    is_anonymous: bool = field(default=False, kw_only=True)


@dataclass
class StaffPrincipal(SignedIn):
    user: User
    is_candidate: bool = False

    def get_id(self) -> str:
        return f"u:{self.user.id}"

    @property
    def name(self) -> str:
        return self.user.display_name

    @property
    def actor(self) -> str:
        return user_actor(self.user.username)

    def has_role(self, *roles: str) -> bool:
        return self.user.has_role(*roles)


@dataclass
class CandidatePrincipal(SignedIn):
    """A candidate logged in with an admission ticket.

    Loaded on every candidate request and Socket.IO connection (a whole room reconnects at once after
    a server restart), so it carries the few ticket fields those need. Tickets are the sessions package's:
    it registers the accounts that load and sign in candidates (`register_candidate_accounts`), and its
    principal adds the ORM ticket and the candidate's name for the pages that show them.
    """

    ticket_id: int
    candidate_id: int
    number: str
    is_candidate: bool = True

    def get_id(self) -> str:
        return f"t:{self.ticket_id}"

    @property
    def actor(self) -> str:
        return user_actor(self.number)

    def has_role(self, *roles: str) -> bool:
        return False


class CandidateAccounts(Protocol):
    """How candidates log in, implemented where tickets live (exam_server/sessions/accounts.py)."""

    def load(self, ticket_id: int) -> CandidatePrincipal | None:
        """The principal of a logged-in ticket, or None if it is gone."""

    def authenticate(self, session: Session, number: str, password: str) -> CandidatePrincipal | None:
        """The principal of ticket `number` if `password` is its password, else None."""


_accounts: list[CandidateAccounts] = []


def register_candidate_accounts(accounts: CandidateAccounts) -> None:
    """Make `accounts` the one way candidates log in (the sessions package calls this when imported)."""
    _accounts[:] = [accounts]


def candidate_accounts() -> CandidateAccounts:
    if not _accounts:
        raise RuntimeError("no candidate accounts registered (exam_server.sessions.accounts was not imported)")
    return _accounts[0]


@login_manager.user_loader
def load_principal(principal_id: str) -> StaffPrincipal | CandidatePrincipal | None:
    kind, _, raw = principal_id.partition(":")
    if not raw.isdigit():
        return None
    if kind == "u":
        user = db.session.get(User, int(raw))
        return StaffPrincipal(user) if user is not None and user.active else None
    if kind == "t":
        return candidate_accounts().load(int(raw))
    return None


def role_required(*roles: str) -> Callable[[F], F]:
    """Allow a staff member holding any of `roles` (admin holds all); others get 403, anonymous 401."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.is_candidate or not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def candidate_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not current_user.is_candidate:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]

"""Who is logged in: staff accounts and candidates (by admission ticket), and role checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Protocol, TypeVar

from blinker import Namespace
from flask import abort
from flask import session as cookie_session
from flask_login import current_user, login_user, logout_user
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.extensions import db, login_manager
from item_bank.kernel import user_actor

F = TypeVar("F", bound=Callable[..., Any])

# The login session keeps the epoch its account had at login; an account whose epoch has moved on since (a
# logout, a new password, a disabled account, new roles) no longer loads, so every copy of the cookie ends.
EPOCH_KEY = "session_epoch"

# sender: the revoked principal's id ("u:<user id>" or "t:<ticket id>"). Sent after the new epoch is committed,
# so that connections opened before it (an exam socket loads its principal once, at connect) are closed.
sessions_revoked = Namespace().signal("sessions-revoked")


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
    def epoch(self) -> int:
        return self.user.session_epoch

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
    epoch: int = 0

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

    def revoke(self, session: Session, ticket_id: int) -> None:
        """End every login session of the ticket (raise its epoch) and commit."""


_accounts: list[CandidateAccounts] = []


def register_candidate_accounts(accounts: CandidateAccounts) -> None:
    """Make `accounts` the one way candidates log in (the sessions package calls this when imported)."""
    _accounts[:] = [accounts]


def candidate_accounts() -> CandidateAccounts:
    if not _accounts:
        raise RuntimeError("no candidate accounts registered (exam_server.sessions.accounts was not imported)")
    return _accounts[0]


def _session_epoch() -> int | None:
    epoch = cookie_session.get(EPOCH_KEY)
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


@login_manager.user_loader
def load_principal(principal_id: str) -> StaffPrincipal | CandidatePrincipal | None:
    """Whoever the login session names, if the session is still current: one read by primary key."""
    kind, _, raw = principal_id.partition(":")
    epoch = _session_epoch()
    if not raw.isdigit() or epoch is None:  # a cookie from before epochs existed is no session either
        return None
    principal: StaffPrincipal | CandidatePrincipal | None = None
    if kind == "u":
        user = db.session.get(User, int(raw))
        principal = StaffPrincipal(user) if user is not None and user.active else None
    elif kind == "t":
        principal = candidate_accounts().load(int(raw))
    return principal if principal is not None and principal.epoch == epoch else None


def sign_in(principal: StaffPrincipal | CandidatePrincipal) -> None:
    """Log `principal` in on this browser, in their account's current session epoch."""
    login_user(principal)
    cookie_session[EPOCH_KEY] = principal.epoch


def sign_out() -> None:
    """Log out this browser only (the caller has ended, or keeps, the account's other sessions)."""
    logout_user()
    cookie_session.pop(EPOCH_KEY, None)


def announce_revoked(principal_id: str) -> None:
    """Tell open connections that `principal_id`'s sessions ended (after the new epoch is committed)."""
    sessions_revoked.send(principal_id)


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

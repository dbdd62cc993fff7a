"""Who is logged in: staff accounts and candidates (by admission ticket), and role checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import bindparam, select

from exam_server.core.models import User
from exam_server.extensions import db, login_manager
from exam_server.sessions.models import Ticket

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class StaffPrincipal:
    user: User
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    is_candidate: bool = False

    def get_id(self) -> str:
        return f"u:{self.user.id}"

    @property
    def name(self) -> str:
        return self.user.display_name

    @property
    def actor(self) -> str:
        return f"user:{self.user.username}"

    def has_role(self, *roles: str) -> bool:
        return self.user.has_role(*roles)


@dataclass
class CandidatePrincipal:
    """A candidate logged in with an admission ticket.

    Loaded on every candidate request and Socket.IO connection (a whole room reconnects at once after
    a server restart), so it carries the few ticket fields those need and loads the ORM ticket only
    when a page asks for more.
    """

    ticket_id: int
    candidate_id: int
    number: str
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    is_candidate: bool = True

    @classmethod
    def of(cls, ticket: Ticket) -> CandidatePrincipal:
        return cls(ticket_id=ticket.id, candidate_id=ticket.candidate_id, number=ticket.number)

    @property
    def ticket(self) -> Ticket:
        ticket = db.session.get(Ticket, self.ticket_id)
        assert ticket is not None, "a logged-in ticket is never deleted"
        return ticket

    def get_id(self) -> str:
        return f"t:{self.ticket_id}"

    @property
    def name(self) -> str:
        return self.ticket.candidate.name

    @property
    def actor(self) -> str:
        return f"candidate:{self.number}"

    def has_role(self, *roles: str) -> bool:
        return False


_TICKET = Ticket.__table__
_PRINCIPAL_OF_TICKET = select(_TICKET.c.id, _TICKET.c.candidate_id, _TICKET.c.number).where(
    _TICKET.c.id == bindparam("ticket")
)


@login_manager.user_loader
def load_principal(principal_id: str) -> StaffPrincipal | CandidatePrincipal | None:
    kind, _, raw = principal_id.partition(":")
    if not raw.isdigit():
        return None
    if kind == "u":
        user = db.session.get(User, int(raw))
        return StaffPrincipal(user) if user is not None and user.active else None
    if kind == "t":
        # Its own short-lived connection: a request that then waits its turn (the burst gate of the
        # exam page) must not hold one of the pool's few connections meanwhile.
        assert db.engine is not None
        with db.engine.connect() as connection:
            row = connection.execute(_PRINCIPAL_OF_TICKET, {"ticket": int(raw)}).one_or_none()
        return CandidatePrincipal(ticket_id=row.id, candidate_id=row.candidate_id, number=row.number) if row else None
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

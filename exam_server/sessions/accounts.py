"""Candidates log in with their admission ticket: the ticket side of core's login (exam_server/core/auth.py),
registered with core when this module is imported."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from exam_server.core.auth import CandidatePrincipal, announce_revoked, register_candidate_accounts
from exam_server.extensions import db
from exam_server.sessions.credentials import app_secret, check_hashed_password, check_password
from exam_server.sessions.models import Ticket
from item_bank.db import read_one
from item_bank.kernel import transaction


class TicketHolder(CandidatePrincipal):
    """A logged-in candidate, with their ticket (and name) loaded only when a page asks for it."""

    @classmethod
    def of(cls, ticket: Ticket) -> TicketHolder:
        return cls(ticket_id=ticket.id, candidate_id=ticket.candidate_id, number=ticket.number,
                   epoch=ticket.session_epoch)

    @property
    def ticket(self) -> Ticket:
        ticket = db.session.get(Ticket, self.ticket_id)
        assert ticket is not None, "a logged-in ticket is never deleted"
        return ticket

    @property
    def name(self) -> str:
        return self.ticket.candidate.name


_TICKET = Ticket.__table__
_PRINCIPAL_OF_TICKET = select(_TICKET.c.id, _TICKET.c.candidate_id, _TICKET.c.number, _TICKET.c.session_epoch).where(
    _TICKET.c.id == bindparam("ticket")
)


class TicketAccounts:
    def load(self, ticket_id: int) -> TicketHolder | None:
        # Its own short-lived connection: a request that then waits its turn (the burst gate of the
        # exam page) must not hold one of the pool's few connections meanwhile. One statement, no transaction.
        assert db.engine is not None
        row = read_one(db.engine, _PRINCIPAL_OF_TICKET, {"ticket": ticket_id})
        if row is None:
            return None
        return TicketHolder(ticket_id=row.id, candidate_id=row.candidate_id, number=row.number,
                            epoch=row.session_epoch)

    def authenticate(self, session: Session, number: str, password: str) -> TicketHolder | None:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None or ticket.status != "active":  # a withdrawn ticket logs nobody in
            return None
        first = check_password(session, ticket, password, app_secret())
        if first is None:
            if not check_hashed_password(session, ticket, password, app_secret()):
                return None
        elif not first:
            return None
        return TicketHolder.of(ticket)

    def revoke(self, session: Session, ticket_id: int) -> None:
        with transaction(session):
            session.execute(update(Ticket).where(Ticket.id == ticket_id)
                            .values(session_epoch=Ticket.session_epoch + 1))
        announce_revoked(f"t:{ticket_id}")


register_candidate_accounts(TicketAccounts())

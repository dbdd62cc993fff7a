"""What a staff account may see and change, decided by its organisation and roles.

The one helper every domain uses to filter its lists and check one object:

    scope = scope_for(user)                 # or scope_for(user, session); in a view: current_scope()
    query = select(Site).where(scope.centre_clause(Site.centre_id))
    scope.check_centre(site.centre_id, "考点")                   # OutOfScope (403) if not theirs
    scope.check_unit(application.unit_id, "申请")                # a unit's own things (and its centre's staff)
    scope.check_write()                                         # the police account reads only

Rules (DESIGN.md §1, issue 14 item 1):
- `admin`, `province` accounts and any account of the province organisation: everything, may act.
- `police` (治安部门): everything, read-only (`read_only`; `check_write` refuses).
- an account of a centre: that centre (its sites, sittings) and the units under it (`unit_ids`).
- an account of a pilot unit: that unit only (`unit_ids`; no centre).
- an account with no organisation (made before organisations existed, or one not bound to a place such as
  an author or grader): rows no centre or unit owns yet (`include_unassigned`), and, if it holds the
  `centre_staff` role and exactly one centre exists, that centre too — a one-centre install keeps working
  after the upgrade. With two or more centres an unassigned account sees no centre's rows: scope is never
  widened by a guess.
Rows with no centre (sites and sittings from before organisations) are seen by the everything-scopes, by
unassigned accounts, and by the staff of the only centre when exactly one exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import g
from flask_login import current_user
from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session, object_session

from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.organisations.models import CENTRE, PROVINCE, UNIT, Centre, Organisation, PilotUnit
from item_bank.kernel import DomainError

EVERYTHING_ROLES = ("admin", "province")
READ_ONLY_ROLES = ("police",)


class OutOfScope(DomainError):
    """The account's organisation does not hold this object (or the account may only read)."""

    default_code = "out_of_scope"
    default_status = 403


@dataclass(frozen=True)
class Scope:
    """What one account sees. `everything` overrides the id sets; `read_only` forbids every change."""

    everything: bool = False
    read_only: bool = False
    centre_ids: frozenset[int] = field(default_factory=frozenset)
    unit_ids: frozenset[int] = field(default_factory=frozenset)
    include_unassigned: bool = False
    # The account's own organisation (None for everything-scopes without one, or unassigned accounts).
    organisation_id: int | None = None
    # What the account sees, in words, for pages ("全省", "鉴定中心 X", "试点单位 Y", "未归属机构").
    label: str = ""

    # ---------------------------------------------------------------- one object

    def sees_centre(self, centre_id: int | None) -> bool:
        """Whether a row owned by centre `centre_id` (None: owned by no centre) is visible."""
        if self.everything:
            return True
        if centre_id is None:
            return self.include_unassigned
        return centre_id in self.centre_ids

    def sees_unit(self, unit_id: int | None) -> bool:
        """Whether a row of pilot unit `unit_id` (None: of no unit) is visible (a centre sees its units')."""
        if self.everything:
            return True
        if unit_id is None:
            return self.include_unassigned
        return unit_id in self.unit_ids

    def check_centre(self, centre_id: int | None, what: str = "记录") -> None:
        """Refuse (403) a row of a centre the account does not hold; `what` names it in the message."""
        if not self.sees_centre(centre_id):
            raise OutOfScope(f"这个{what}不属于您所在的机构（{self.label}），无权查看或操作。",
                             centre_id=centre_id)

    def check_unit(self, unit_id: int | None, what: str = "记录") -> None:
        """Refuse (403) a row of a pilot unit the account does not hold."""
        if not self.sees_unit(unit_id):
            raise OutOfScope(f"这个{what}不属于您所在的机构（{self.label}），无权查看或操作。", unit_id=unit_id)

    def check_write(self) -> None:
        """Refuse (403) any change by a read-only account (the police)."""
        if self.read_only:
            raise OutOfScope("本账号只能查看，不能修改。", code="read_only")

    # ---------------------------------------------------------------- queries

    def centre_clause(self, column: ColumnElement[int | None] | object) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows whose `column` (a centre id, e.g. `Site.centre_id`) is visible."""
        if self.everything:
            return true()
        terms: list[ColumnElement[bool]] = []
        if self.centre_ids:
            terms.append(column.in_(sorted(self.centre_ids)))  # type: ignore[attr-defined]
        if self.include_unassigned:
            terms.append(column.is_(None))  # type: ignore[attr-defined]
        return or_(*terms) if terms else false()

    def unit_clause(self, column: ColumnElement[int | None] | object) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows whose `column` (a pilot unit id) is visible."""
        if self.everything:
            return true()
        terms: list[ColumnElement[bool]] = []
        if self.unit_ids:
            terms.append(column.in_(sorted(self.unit_ids)))  # type: ignore[attr-defined]
        if self.include_unassigned:
            terms.append(column.is_(None))  # type: ignore[attr-defined]
        return or_(*terms) if terms else false()

    @property
    def own_centre_id(self) -> int | None:
        """The one centre the account acts for (a new site or sitting goes there), if exactly one."""
        return next(iter(self.centre_ids)) if len(self.centre_ids) == 1 and not self.everything else None


EVERYTHING = Scope(everything=True, label="全省")


def scope_for(user: User, session: Session | None = None) -> Scope:
    """The scope of staff account `user` (see the module docstring). Reads the database: call once a request."""
    session = session or object_session(user)
    if session is None:
        raise RuntimeError("scope_for needs the user's session (pass it for a detached user)")
    roles = set(user.roles or [])
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    if roles & set(EVERYTHING_ROLES) or (organisation is not None and organisation.kind == PROVINCE):
        return Scope(everything=True, organisation_id=user.organisation_id, label="全省")
    if roles & set(READ_ONLY_ROLES):
        return Scope(everything=True, read_only=True, organisation_id=user.organisation_id, label="全省（只读）")
    if organisation is not None and organisation.kind == CENTRE:
        return _centre_scope(session, organisation, user.organisation_id)
    if organisation is not None and organisation.kind == UNIT:
        return Scope(unit_ids=frozenset({organisation.id}), organisation_id=organisation.id,
                     label=f"试点单位 {organisation.name}")
    # No organisation (or one that holds nothing, such as a city).
    if "centre_staff" in roles:
        only = session.scalars(select(Centre).order_by(Centre.id).limit(2)).all()
        if len(only) == 1:
            return _centre_scope(session, only[0], None)
    return Scope(include_unassigned=True, organisation_id=user.organisation_id, label="未归属机构")


def current_scope() -> Scope:
    """The scope of the staff member making this request (computed once a request). Views call this after
    role_required; a candidate or anonymous caller gets an empty scope."""
    scope = g.get("_organisation_scope")
    if scope is None:
        user = getattr(current_user, "user", None) if current_user.is_authenticated else None
        scope = scope_for(db.session.get(User, user.id), db.session) if user is not None else Scope(label="无")
        g._organisation_scope = scope
    return scope


def _centre_scope(session: Session, centre: Organisation, organisation_id: int | None) -> Scope:
    units = frozenset(session.scalars(select(PilotUnit.id).where(PilotUnit.centre_id == centre.id)))
    n_centres = session.scalar(select(func.count()).select_from(Centre)) or 0
    return Scope(centre_ids=frozenset({centre.id}), unit_ids=units, include_unassigned=n_centres == 1,
                 organisation_id=organisation_id, label=f"鉴定中心 {centre.name}")

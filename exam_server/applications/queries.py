"""Reading applications: a staff member's scoped list, one application's record in words, and what the sittings
package needs (approved applications with their exemption decision, and the ID photo)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from exam_server.applications import eligibility
from exam_server.applications.models import CENTRE_APPROVED, ApplicantPhoto, Application
from exam_server.organisations.models import PilotUnit
from exam_server.organisations.scope import Scope

PAGE = 100


def scoped(scope: Scope) -> Select[tuple[Application]]:
    """Applications the scope sees (a unit its own, a centre its units', the province all)."""
    return select(Application).where(scope.unit_clause(Application.unit_id))


def list_applications(session: Session, scope: Scope, *, status: str | None = None, level: int | None = None,
                      unit_id: int | None = None, search: str = "", page: int = 1) -> tuple[list[Application], int]:
    """One page of the scope's applications (newest first) and how many match."""
    query = scoped(scope)
    if status:
        query = query.where(Application.status == status)
    if level:
        query = query.where(Application.level == level)
    if unit_id:
        query = query.where(Application.unit_id == unit_id)
    if search:
        query = query.where((Application.name.contains(search)) | (Application.id_number.contains(search.upper())))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.options(joinedload(Application.unit)).order_by(Application.id.desc())
                           .offset((max(page, 1) - 1) * PAGE).limit(PAGE)).all()
    return list(rows), total


def status_counts(session: Session, scope: Scope) -> dict[str, int]:
    rows = session.execute(select(Application.status, func.count()).where(scope.unit_clause(Application.unit_id))
                           .group_by(Application.status))
    return {status: n for status, n in rows}


def history(session: Session, application: Application) -> list[Application]:
    """The person's applications at the same level, oldest first (a rejected one stays beside the new one)."""
    return list(session.scalars(select(Application).where(
        Application.id_number == application.id_number, Application.level == application.level)
        .order_by(Application.id)))


def for_person(session: Session, id_number: str, phone: str) -> list[Application]:
    """A candidate's own applications, found by ID number and the phone they gave (both must match)."""
    return list(session.scalars(select(Application).where(
        Application.id_number == id_number.strip().upper(), Application.phone == phone.strip())
        .order_by(Application.id.desc())))


# ---------------------------------------------------------------- for the sittings package (helper H3)


@dataclass(frozen=True)
class ApprovedApplication:
    """An application through 复审, as scheduling needs it."""

    id: int
    name: str
    id_number: str
    sex: str
    employer: str
    guard_cert_no: str
    guard_cert_date: dt.date
    level: int
    parts: tuple[str, ...]
    theory_exempt: bool
    #: The exemption's recorded decision (rule, facts, words), or None for a level without the rule.
    exemption: dict[str, Any] | None
    unit_id: int
    unit_name: str
    city_id: int | None
    centre_id: int | None
    window_id: int
    photo_id: int | None


def approved_applications(session: Session, *, unit_ids: list[int] | None = None, city_id: int | None = None,
                          centre_id: int | None = None, level: int | None = None, part: str | None = None,
                          window_id: int | None = None, scope: Scope | None = None,
                          status: str = CENTRE_APPROVED) -> list[ApprovedApplication]:
    """Applications through 复审 (status centre_approved: not yet ticketed), filtered by unit, city (the unit's),
    centre (the unit's), level, part applied for, and window; `scope` narrows to what a staff member sees.
    A theory-exempt application does not list "theory" in its parts, so `part="theory"` leaves it out."""
    query = select(Application, PilotUnit).join(PilotUnit, PilotUnit.id == Application.unit_id).where(
        Application.status == status)
    if scope is not None:
        query = query.where(scope.unit_clause(Application.unit_id))
    if unit_ids:
        query = query.where(Application.unit_id.in_(unit_ids))
    if city_id is not None:
        query = query.where(PilotUnit.parent_id == city_id)
    if centre_id is not None:
        query = query.where(PilotUnit.centre_id == centre_id)
    if level is not None:
        query = query.where(Application.level == level)
    if window_id is not None:
        query = query.where(Application.window_id == window_id)
    out = []
    for application, unit in session.execute(query.order_by(Application.unit_id, Application.id)):
        if part is not None and part not in (application.parts or []):
            continue
        out.append(ApprovedApplication(
            id=application.id, name=application.name, id_number=application.id_number, sex=application.sex,
            employer=application.employer, guard_cert_no=application.guard_cert_no,
            guard_cert_date=application.guard_cert_date, level=application.level,
            parts=tuple(application.parts or ()), theory_exempt=application.theory_exempt,
            exemption=exemption_decision(application), unit_id=unit.id, unit_name=unit.name,
            city_id=unit.parent_id, centre_id=unit.centre_id, window_id=application.window_id,
            photo_id=application.photo_id))
    return out


def exemption_decision(application: Application) -> dict[str, Any] | None:
    """The recorded theory-exemption decision of an application (rule, parameters, facts, outcome, words)."""
    for decision in application.decisions or []:
        if decision.get("rule") == "theory_exemption":
            return dict(decision)
    return None


def exemption_on(application: Application, sitting_date: dt.date, years: int = 3) -> eligibility.Decision | None:
    """The exemption decided again for the real sitting date (the window's planned date may differ)."""
    recorded = exemption_decision(application)
    if recorded is None:
        return None
    facts = eligibility.Facts(level=application.level, guard_cert_no=application.guard_cert_no,
                              guard_cert_date=application.guard_cert_date, exam_date=sitting_date)
    params = {"years": recorded.get("params", {}).get("years", years)}
    return eligibility.RULES["theory_exemption"].decide(params, facts)


def applicant_photo(session: Session, application_id: int) -> ApplicantPhoto | None:
    """The ID photo of an application (mime and bytes in `.mime`, `.data`), or None. The caller checks who may
    see it (staff of the application's unit or centre, the room's proctor, the candidate on their ticket)."""
    application = session.get(Application, application_id)
    return application.photo if application is not None else None

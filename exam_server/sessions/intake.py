"""Approved applications (applications' 复审 passed) as the applicants a sitting schedules, and what a ticket
shows of its application (the ID photo).

Selection: by unit, by city (the unit's), or hand-picked application ids, always of the sitting's level and
within what the staff member's scope holds. In a theory sitting the level-5 exemption is decided again for the
sitting's own date (the window's planned date may differ: eligibility's rule, same parameters), so a certificate
that turns 3 years old before the sitting is not exempt; the exempt are listed, never seated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exam_server.applications.models import CENTRE_APPROVED, TICKETED, ApplicantPhoto, Application
from exam_server.applications.queries import ApprovedApplication, approved_applications, exemption_on
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.organisations.scope import Scope
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.sessions.scheduling import THEORY, Applicant
from item_bank.audit import audit


def applicants_for(
    session: Session,
    exam_session: ExamSession,
    *,
    unit_ids: list[int] | None = None,
    city_id: int | None = None,
    application_ids: Sequence[int] | None = None,
    scope: Scope | None = None,
) -> list[Applicant]:
    """The approved applications of the sitting's level chosen by unit, city or id, as applicants to schedule."""
    sitting_date = exam_session.starts_at.astimezone(DISPLAY_ZONE).date()
    picked = set(application_ids or ())
    found = []
    for status in (CENTRE_APPROVED, TICKETED):  # ticketed for another part (theory, then skill) still counts
        found += approved_applications(session, unit_ids=unit_ids, city_id=city_id, level=exam_session.level,
                                       scope=scope, status=status)
    return as_applicants(session, [a for a in found if not picked or a.id in picked], exam_session.part,
                         sitting_date)


def as_applicants(
    session: Session, found: Sequence[ApprovedApplication], part: str, sitting_date: dt.date
) -> list[Applicant]:
    """Approved applications as the applicants of a sitting of `part` on `sitting_date` (Beijing): those who applied
    for the part, the theory exemption decided again for that date."""
    out = []
    for approved in found:
        exemption = ""
        if part == THEORY:
            if THEORY not in approved.parts and not approved.theory_exempt:
                continue
            application = session.get(Application, approved.id)
            decision = exemption_on(application, sitting_date) if application is not None else None
            if decision is not None and decision.outcome == "exempt":
                exemption = decision.words or "理论知识免试"
        elif part not in approved.parts:
            continue
        out.append(Applicant(
            id_number=approved.id_number, name=approved.name, guard_cert_no=approved.guard_cert_no,
            guard_cert_date=approved.guard_cert_date, employer=approved.employer, application_id=approved.id,
            theory_exemption=exemption,
        ))
    return out


def mark_ticketed(session: Session, application_ids: Sequence[int], actor: str) -> int:
    """Move the applications that got a ticket to 已编排考试 (ticketed), in the caller's transaction."""
    ids = list(application_ids)
    if not ids:
        return 0
    moved = 0
    for i in range(0, len(ids), 500):
        result = session.execute(update(Application).where(
            Application.id.in_(ids[i:i + 500]), Application.status == CENTRE_APPROVED).values(status=TICKETED))
        moved += result.rowcount or 0  # type: ignore[attr-defined]
    audit(session, actor, "ticket_applications", "application", ids[0], after={"ticketed": moved, "ids": ids[:2000]})
    return moved


def ticket_photos(session: Session, tickets: Sequence[Ticket]) -> dict[int, bytes]:
    """Each ticket's applicant photo (ticket id → image bytes), for the tickets scheduled from an application."""
    by_application = {t.application_id: t.id for t in tickets if t.application_id is not None}
    photos: dict[int, bytes] = {}
    keys = list(by_application)
    for i in range(0, len(keys), 500):
        rows = session.execute(
            select(Application.id, ApplicantPhoto.data).join(ApplicantPhoto, ApplicantPhoto.id == Application.photo_id)
            .where(Application.id.in_(keys[i:i + 500])))
        for application_id, data in rows:
            photos[by_application[application_id]] = data
    return photos

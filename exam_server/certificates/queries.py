"""Reading certificates: a sitting's or a scope's list, a holder's own, and the photos to print."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from exam_server.applications.models import ApplicantPhoto, Application
from exam_server.certificates.models import Certificate
from exam_server.sessions.models import Candidate, ExamSession


def certificates(session: Session, *, sitting_id: int | None = None, visible: ColumnElement[bool] | None = None,
                 limit: int | None = None) -> list[Certificate]:
    """Certificates in number order; `visible` is a scope clause on Certificate.centre_id."""
    query = select(Certificate).where(visible if visible is not None else true())
    if sitting_id is not None:
        query = query.where(Certificate.sitting_id == sitting_id)
    query = query.order_by(Certificate.number)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def sitting_by_code(session: Session, code: str) -> ExamSession | None:
    return session.scalar(select(ExamSession).where(ExamSession.code == code))


def of_holder(session: Session, candidate_id: int) -> list[Certificate]:
    """The holder's certificates (every ticket of one person shares the candidate row), newest first."""
    return list(session.scalars(select(Certificate).where(Certificate.candidate_id == candidate_id)
                                .order_by(Certificate.id.desc())))


def photos_of(session: Session, certs: Iterable[Certificate]) -> dict[int, bytes]:
    """Candidate id → the ID photo of their newest application that has one (none: no photo is printed)."""
    by_id_number = {c.id_number: c.candidate_id for c in certs}
    if not by_id_number:
        return {}
    photos: dict[int, bytes] = {}
    rows = session.execute(
        select(Application.id_number, ApplicantPhoto.data)
        .join(ApplicantPhoto, ApplicantPhoto.id == Application.photo_id)
        .where(Application.id_number.in_(list(by_id_number)))
        .order_by(Application.id)
    )
    for id_number, data in rows:
        photos[by_id_number[id_number]] = data  # later rows (newer applications) win
    return photos


def candidate_of(session: Session, candidate_id: int) -> Candidate | None:
    return session.get(Candidate, candidate_id)

"""Setting up a sitting: exam sessions, their forms, candidates and admission tickets."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.security import hash_password
from exam_server.sessions.models import Candidate, ExamSession, SessionForm, Ticket
from item_bank.audit import audit
from item_bank.models import Blueprint, Form


class SessionSetupError(Exception):
    """A sitting cannot be set up as asked; the message names what is wrong."""


def create_exam_session(
    session: Session,
    *,
    code: str,
    name: str,
    blueprint: Blueprint,
    starts_at: dt.datetime,
    actor: str,
    duration_s: int | None = None,
) -> ExamSession:
    """A new sitting of `blueprint`'s level and part starting at `starts_at` (UTC)."""
    if session.scalar(select(ExamSession).where(ExamSession.code == code)):
        raise SessionSetupError(f"考试场次编号 {code} 已存在")
    exam_session = ExamSession(
        code=code,
        name=name,
        level=blueprint.level,
        part=blueprint.part,
        blueprint_id=blueprint.id,
        starts_at=starts_at,
        duration_s=duration_s or blueprint.duration_s,
    )
    session.add(exam_session)
    session.flush()
    audit(session, actor, "create_exam_session", "exam_session", exam_session.id,
          after={"code": code, "blueprint": blueprint.name, "starts_at": starts_at.isoformat()})
    return exam_session


def assign_forms(session: Session, exam_session: ExamSession, forms: list[Form], actor: str) -> None:
    """Use `forms` (locked, of the session's blueprint) in the sitting."""
    for form in forms:
        if form.status != "locked":
            raise SessionSetupError(f"试卷 {form.code} 尚未锁定（状态 {form.status}），不能用于考试")
        if form.blueprint_id != exam_session.blueprint_id:
            raise SessionSetupError(f"试卷 {form.code} 不是按本场次的组卷蓝图组成的")
        session.add(SessionForm(session_id=exam_session.id, form_id=form.id))
    session.flush()
    audit(session, actor, "assign_forms", "exam_session", exam_session.id, after={"forms": [f.code for f in forms]})


def register_candidate(
    session: Session,
    *,
    id_number: str,
    name: str,
    guard_cert_no: str,
    guard_cert_date: dt.date,
    employer: str = "",
    city: str = "",
) -> Candidate:
    """The candidate with this ID number, created if new (details updated if known)."""
    candidate = session.scalar(select(Candidate).where(Candidate.id_number == id_number))
    if candidate is None:
        candidate = Candidate(id_number=id_number, name=name, guard_cert_no=guard_cert_no,
                              guard_cert_date=guard_cert_date, employer=employer, city=city)
        session.add(candidate)
    else:
        candidate.name, candidate.guard_cert_no, candidate.guard_cert_date = name, guard_cert_no, guard_cert_date
    session.flush()
    return candidate


def new_ticket_password() -> str:
    """Six digits: easy to type for candidates not at ease with keyboards, rate-limited at login."""
    return f"{secrets.randbelow(10**6):06d}"


def issue_ticket(
    session: Session,
    exam_session: ExamSession,
    candidate: Candidate,
    actor: str,
    password: str | None = None,
    hash_profile: str = "default",
) -> tuple[Ticket, str]:
    """Issue the candidate's admission ticket for the sitting; returns it with its plain password."""
    if session.scalar(select(Ticket).where(Ticket.session_id == exam_session.id, Ticket.candidate_id == candidate.id)):
        raise SessionSetupError(f"考生 {candidate.name} 已有本场次的准考证")
    count = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.session_id == exam_session.id)) or 0
    number = f"{exam_session.starts_at:%y%m%d}{exam_session.id:03d}{count + 1:04d}"
    password = password or new_ticket_password()
    ticket = Ticket(number=number, session_id=exam_session.id, candidate_id=candidate.id,
                    password_hash=hash_password(password, hash_profile))
    session.add(ticket)
    session.flush()
    audit(session, actor, "issue_ticket", "ticket", ticket.id, after={"number": number, "candidate": candidate.id_number})
    return ticket, password

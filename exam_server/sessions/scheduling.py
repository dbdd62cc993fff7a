"""Sittings staff create, and the schedule: approved applicants put into a sitting's seats in one action.

- `create_sitting`: level and part from the locked form(s), the rooms (of one or more sites) it uses, date, start
  and end, and its rules (`SittingRules`).
- `schedule`: the applicants chosen (by unit, city or by hand: the caller selects; see `sessions/intake.py`) get a
  ticket and a seat in the sitting's rooms, in the order the rooms were given and seat numbers ascending. Parallel
  forms go by seat (seat n of a room gets form n mod k), so neighbours sit different forms. In a theory sitting an
  applicant exempt from theory (理论知识免试) gets no ticket and is listed as exempt with the reason. All or
  nothing: too few free seats refuses the whole action, naming the numbers. Each ticket's initial password is
  generated here and kept sealed until the first login (sessions/credentials.py). The attempts are then prepared as before (delivery's
  `prepare_attempts`, run on the `sitting_scheduled` signal by the composition root), so starting stays a read.
- Changes until the sitting opens (its first candidate starts): scheduling again adds late applicants, `move`
  changes a seat, `withdraw` takes a candidate out, `set_accommodation` records extra time or a separate room with
  its reason. Each is audited; after the opening each is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import column, exists, func, select, table, update
from sqlalchemy.orm import Session

from exam_server.core.auth import announce_revoked
from exam_server.core.signals import sitting_scheduled
from exam_server.sessions.credentials import new_sealed_password
from exam_server.sessions.models import (
    Candidate,
    ExamSession,
    Room,
    Seat,
    SessionExemption,
    SessionForm,
    SessionRoom,
    Ticket,
)
from exam_server.sessions.operations import (
    SessionSetupError,
    SittingRules,
    _move_ticket,
    create_exam_session,
    ticket_number,
)
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel import transaction
from item_bank.models import Form

THEORY = "theory"


@dataclass(frozen=True)
class Applicant:
    """An approved applicant as scheduling needs them (applications' `Application` is turned into one)."""

    id_number: str
    name: str
    guard_cert_no: str
    guard_cert_date: dt.date
    employer: str = ""
    city: str = ""
    application_id: int | None = None
    # Non-empty: exempt from the theory part, in words (the eligibility rule's decision).
    theory_exemption: str = ""


@dataclass
class ScheduleReport:
    scheduled: int = 0
    already: int = 0
    exempt: list[tuple[str, str, str]] = field(default_factory=list)  # (name, id number, reason)
    ticket_ids: list[int] = field(default_factory=list)

    def lines(self, exam_session: ExamSession) -> list[str]:
        out = [f"考试场次 {exam_session.code}：已安排 {self.scheduled} 名考生的座位和准考证"
               + (f"，{self.already} 人此前已安排" if self.already else "")
               + (f"，{len(self.exempt)} 人免考理论知识，未安排" if self.exempt else "") + "。"]
        out += [f"免考：{name}（{reason}）" for name, _id, reason in self.exempt[:50]]
        return out


# ---------------------------------------------------------------- creating a sitting


def create_sitting(
    session: Session,
    *,
    code: str,
    name: str,
    forms: list[Form],
    rooms: list[Room],
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    actor: str,
    rules: SittingRules | None = None,
    level: int | None = None,
    part: str | None = None,
) -> ExamSession:
    """A sitting of the locked `forms` (one blueprint; parallel forms) in `rooms`, from `starts_at` to `ends_at`
    (UTC). `level`/`part`, when given, must be the forms'. Commits."""
    code, name = code.strip(), name.strip()
    if not code:
        raise SessionSetupError("请填写考试场次编号")
    if not forms:
        raise SessionSetupError("请至少选择一套已锁定的试卷")
    if not rooms:
        raise SessionSetupError("请至少选择一个考场")
    blueprints = {f.blueprint_id for f in forms}
    if len(blueprints) > 1:
        raise SessionSetupError("一场考试的多套试卷必须是同一组卷蓝图的平行卷：" + "、".join(f.code for f in forms))
    blueprint = forms[0].blueprint
    if level is not None and blueprint.level != level:
        raise SessionSetupError(f"试卷 {forms[0].code} 是 {blueprint.level} 级的，不是 {level} 级")
    if part is not None and blueprint.part != part:
        raise SessionSetupError(f"试卷 {forms[0].code} 的科目是 {blueprint.part}，不是 {part}")
    if ends_at <= starts_at:
        raise SessionSetupError("考试结束时间必须晚于开始时间")
    with transaction(session):  # the building block flushes; this verb commits
        exam_session = create_exam_session(
            session, code=code, name=name or code, blueprint=blueprint, starts_at=starts_at, actor=actor,
            duration_s=int((ends_at - starts_at).total_seconds()), rules=rules,
        )
        # The sitting belongs to the centre running its (first) site (organisations' scope reads it).
        exam_session.centre_id = rooms[0].site.centre_id
        for form in forms:
            if form.status != "locked":
                raise SessionSetupError(f"试卷 {form.code} 尚未锁定（状态 {form.status}），不能用于考试")
            session.add(SessionForm(session_id=exam_session.id, form_id=form.id))
        for room in dict.fromkeys(rooms):
            session.add(SessionRoom(session_id=exam_session.id, room_id=room.id))
        session.flush()
        audit(session, actor, "create_sitting", "exam_session", exam_session.id,
              after={"forms": [f.code for f in forms], "rooms": [f"{r.site.code}:{r.code}" for r in rooms]})
    return exam_session


# ---------------------------------------------------------------- until the sitting opens

_ATTEMPT = table("attempt", column("session_id"), column("started_at"))  # delivery's table, read by name only


def sitting_opened(session: Session, exam_session: ExamSession) -> bool:
    """The sitting has opened: it is no longer `scheduled`, or one of its candidates has started."""
    if exam_session.status != "scheduled":
        return True
    return bool(session.scalar(select(exists().where(
        _ATTEMPT.c.session_id == exam_session.id, _ATTEMPT.c.started_at.is_not(None)))))


def _require_not_opened(session: Session, exam_session: ExamSession) -> None:
    if sitting_opened(session, exam_session):
        raise SessionSetupError(f"考试场次 {exam_session.code} 已开考，考生安排不能再更改。", code="sitting_opened",
                                status=409)


# ---------------------------------------------------------------- scheduling


def _free_seats(session: Session, exam_session: ExamSession) -> list[Seat]:
    """The sitting's free seats: its rooms in order, seat numbers ascending."""
    taken = set(session.scalars(
        select(Ticket.seat_id).where(Ticket.session_id == exam_session.id, Ticket.seat_id.is_not(None))))
    room_ids = [sr.room_id for sr in exam_session.rooms]
    seats = session.scalars(select(Seat).where(Seat.room_id.in_(room_ids))).all() if room_ids else []
    order = {room_id: i for i, room_id in enumerate(room_ids)}
    return sorted((s for s in seats if s.id not in taken), key=lambda s: (order[s.room_id], s.number))


def _candidates_by_id_number(session: Session, numbers: list[str]) -> dict[str, Candidate]:
    found: dict[str, Candidate] = {}
    for i in range(0, len(numbers), 500):
        for c in session.scalars(select(Candidate).where(Candidate.id_number.in_(numbers[i:i + 500]))):
            found[c.id_number] = c
    return found


def schedule(
    session: Session, exam_session: ExamSession, applicants: list[Applicant], actor: str, *, secret: str,
    on_ticketed: Callable[[Session, list[int]], object] | None = None,
) -> ScheduleReport:
    """Give each applicant a ticket and a seat in the sitting (the exempt of a theory sitting are listed instead);
    then the attempts are prepared. Each ticket's initial password is generated now and kept sealed under
    `secret` (sessions/credentials.py). `on_ticketed` gets the application ids holding a ticket of the sitting now,
    in the same transaction (the applications move to ticketed with it). All or nothing; commits."""
    _require_not_opened(session, exam_session)
    forms = [sf.form_id for sf in exam_session.forms]
    if not forms:
        raise SessionSetupError(f"考试场次 {exam_session.code} 还没有指定试卷")
    report = ScheduleReport()
    with transaction(session):
        unique = list({a.id_number: a for a in applicants}.values())
        people = _candidates_by_id_number(session, [a.id_number for a in unique])
        ticketed = set(session.scalars(select(Ticket.candidate_id).where(Ticket.session_id == exam_session.id)))
        listed = set(session.scalars(
            select(SessionExemption.candidate_id).where(SessionExemption.session_id == exam_session.id)))
        new_people = [Candidate(id_number=a.id_number, name=a.name, guard_cert_no=a.guard_cert_no,
                                guard_cert_date=a.guard_cert_date, employer=a.employer, city=a.city)
                      for a in unique if a.id_number not in people]
        session.add_all(new_people)
        session.flush()
        people.update({c.id_number: c for c in new_people})
        to_seat: list[tuple[Applicant, Candidate]] = []
        holding: list[int] = []
        for applicant in unique:
            person = people[applicant.id_number]
            if exam_session.part == THEORY and applicant.theory_exemption:
                if person.id not in listed:
                    session.add(SessionExemption(session_id=exam_session.id, candidate_id=person.id,
                                                 application_id=applicant.application_id,
                                                 reason=applicant.theory_exemption[:300]))
                report.exempt.append((applicant.name, applicant.id_number, applicant.theory_exemption))
            elif person.id in ticketed:
                report.already += 1
                if applicant.application_id is not None:
                    holding.append(applicant.application_id)
            else:
                to_seat.append((applicant, person))
        free = _free_seats(session, exam_session)
        if len(free) < len(to_seat):
            rooms = "、".join(f"{sr.room.site.name}{sr.room.name}" for sr in exam_session.rooms) or "（未选考场）"
            raise SessionSetupError(f"座位不够：要安排 {len(to_seat)} 名考生，{rooms} 只有 {len(free)} 个空座位。"
                                    "请为场次增加考场或座位后再安排。", code="not_enough_seats")
        count = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.session_id == exam_session.id)) or 0
        tickets = []
        now = utcnow()
        for (applicant, person), seat in zip(to_seat, free, strict=False):
            count += 1
            tickets.append(Ticket(
                number=ticket_number(exam_session, count),
                session_id=exam_session.id, candidate_id=person.id, seat_id=seat.id, password_hash="",
                password_sealed=new_sealed_password(secret)[1], password_issued_at=now,
                form_id=forms[(seat.number - 1) % len(forms)], application_id=applicant.application_id,
            ))
        session.add_all(tickets)
        session.flush()
        report.scheduled = len(tickets)
        if on_ticketed is not None:
            on_ticketed(session, holding + [a.application_id for a, _p in to_seat if a.application_id is not None])
        report.ticket_ids = [t.id for t in tickets]
        audit(session, actor, "schedule", "exam_session", exam_session.id,
              after={"scheduled": report.scheduled, "already": report.already, "exempt": len(report.exempt),
                     "applications": [a.application_id for a, _p in to_seat if a.application_id][:2000]})
    # Prepared outside this transaction by delivery (it commits its own); a failure leaves tickets without
    # attempts, which the next scheduling (or `prepare_attempts`) completes.
    sitting_scheduled.send(session, exam_session=exam_session, actor=actor)
    return report


# ---------------------------------------------------------------- changes until the sitting opens


def move(session: Session, ticket: Ticket, seat: Seat, actor: str) -> Ticket:
    """Move a candidate to another seat of the sitting's rooms (the ticket keeps its form). Commits."""
    _require_not_opened(session, ticket.session)
    if seat.room_id not in {sr.room_id for sr in ticket.session.rooms}:
        raise SessionSetupError(f"{seat.room.name} 不是本场次使用的考场")
    with transaction(session):
        return _move_ticket(session, ticket, seat, actor)


def withdraw(session: Session, ticket: Ticket, actor: str, reason: str) -> Ticket:
    """Take a candidate out of the sitting (撤销): the seat is freed, the ticket logs nobody in. Commits."""
    if not reason.strip():
        raise SessionSetupError("撤销考生安排必须填写原因", code="reason_required")
    _require_not_opened(session, ticket.session)
    with transaction(session):
        before = {"status": ticket.status, "seat": ticket.seat_id}
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(
            status="withdrawn", seat_id=None, session_epoch=Ticket.session_epoch + 1))
        audit(session, actor, "withdraw_ticket", "ticket", ticket.id, before=before,
              after={"status": "withdrawn", "reason": reason.strip()[:200]})
    session.refresh(ticket)
    announce_revoked(f"t:{ticket.id}")
    return ticket


MAX_EXTRA_MIN = 120


def set_accommodation(
    session: Session, ticket: Ticket, *, extra_min: int, separate_room: bool, reason: str, actor: str
) -> Ticket:
    """Record a candidate's accommodation (extra time, a separate room) before the sitting, with its reason."""
    if not 0 <= extra_min <= MAX_EXTRA_MIN:
        raise SessionSetupError(f"延长时间应在 0 到 {MAX_EXTRA_MIN} 分钟之间（填写的是 {extra_min}）")
    if (extra_min or separate_room) and not reason.strip():
        raise SessionSetupError("特殊安排必须填写原因", code="reason_required")
    _require_not_opened(session, ticket.session)
    with transaction(session):
        before = {"extra_time_s": ticket.extra_time_s, "separate_room": ticket.separate_room}
        ticket.extra_time_s = extra_min * 60
        ticket.separate_room = separate_room
        ticket.accommodation_reason = reason.strip()[:300]
        audit(session, actor, "set_accommodation", "ticket", ticket.id, before=before,
              after={"extra_time_s": ticket.extra_time_s, "separate_room": separate_room,
                     "reason": ticket.accommodation_reason})
    return ticket


def exemptions(session: Session, exam_session: ExamSession) -> list[SessionExemption]:
    return list(session.scalars(select(SessionExemption).where(SessionExemption.session_id == exam_session.id)
                                .order_by(SessionExemption.id)))


def sitting_rooms(exam_session: ExamSession) -> list[Room]:
    return [sr.room for sr in exam_session.rooms]


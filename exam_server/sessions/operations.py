"""Setting up a sitting: exam sessions, their forms, candidates and admission tickets; places (sites, rooms,
seats), seating, and the proctor in charge of a room.

The verbs a screen or a command runs on their own (creating a site or a room, seating, moving a candidate,
staffing a room) commit; the building blocks a whole set-up composes (a sitting, its forms, tickets) flush,
and their caller commits once (the demo, the seed).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.core.timefmt import local
from exam_server.sessions.models import (
    TIMING_COMMON,
    TIMINGS,
    Candidate,
    ExamSession,
    Room,
    Seat,
    SessionForm,
    Site,
    Ticket,
)
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel import DomainError, transaction
from item_bank.models import Blueprint, Form


class SessionSetupError(DomainError):
    """A sitting or a place cannot be set up as asked; the message names what is wrong."""

    default_code = "session_setup"
    default_status = 400


@dataclass(frozen=True)
class SittingRules:
    """The rules of a sitting that its tickets print and delivery enforces (DESIGN.md §1); the defaults are the
    unified exam's: a common end, no start later than 15 minutes after the start, no 交卷 in the first 30."""

    timing: str = TIMING_COMMON
    late_entry_min: int = 15
    min_submit_min: int = 30
    password_slip: bool = False

    def check(self, duration_s: int) -> None:
        if self.timing not in TIMINGS:
            raise SessionSetupError(f"计时方式应为 {'、'.join(TIMINGS)} 之一（填写的是 {self.timing}）")
        minutes = duration_s // 60
        if not 0 <= self.late_entry_min <= 24 * 60:
            raise SessionSetupError(f"迟到入场截止应在开考后 0 到 1440 分钟之间（填写的是 {self.late_entry_min}）")
        if not 0 <= self.min_submit_min <= minutes:
            raise SessionSetupError(f"最短交卷时间应在 0 到 {minutes} 分钟之间（填写的是 {self.min_submit_min}）")


def exam_session_by_ref(session: Session, ref: str | int) -> ExamSession | None:
    """The sitting with this code, or with this numeric id (what an operator types at `examctl`)."""
    text = str(ref).strip()
    found = session.scalar(select(ExamSession).where(ExamSession.code == text))
    if found is None and text.isdigit():
        found = session.get(ExamSession, int(text))
    return found


def rules_of(exam_session: ExamSession) -> SittingRules:
    return SittingRules(timing=exam_session.timing, late_entry_min=exam_session.late_entry_min,
                        min_submit_min=exam_session.min_submit_min, password_slip=exam_session.password_slip)


def create_exam_session(
    session: Session,
    *,
    code: str,
    name: str,
    blueprint: Blueprint,
    starts_at: dt.datetime,
    actor: str,
    duration_s: int | None = None,
    rules: SittingRules | None = None,
) -> ExamSession:
    """A new sitting of `blueprint`'s level and part starting at `starts_at` (UTC), under `rules`."""
    rules = rules or SittingRules()
    if session.scalar(select(ExamSession).where(ExamSession.code == code)):
        raise SessionSetupError(f"考试场次编号 {code} 已存在")
    if (duration_s or blueprint.duration_s) <= 0:
        raise SessionSetupError("考试结束时间必须晚于开始时间")
    rules.check(duration_s or blueprint.duration_s)
    exam_session = ExamSession(
        **asdict(rules),
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
          after={"code": code, "blueprint": blueprint.name, "starts_at": starts_at.isoformat(), **asdict(rules)})
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


def ticket_number(exam_session: ExamSession, n: int) -> str:
    """The n-th 准考证号 of a sitting: its date as a centre reads it (Beijing), the sitting's id, the count; a sitting
    at 07:00 Beijing starts the day before in UTC and must not print yesterday's date."""
    return f"{local(exam_session.starts_at, '%y%m%d')}{exam_session.id:03d}{n:04d}"


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
    number = ticket_number(exam_session, count + 1)
    password = password or new_ticket_password()
    ticket = Ticket(number=number, session_id=exam_session.id, candidate_id=candidate.id,
                    password_hash=hash_password(password, hash_profile), password_issued_at=utcnow())
    session.add(ticket)
    session.flush()
    audit(session, actor, "issue_ticket", "ticket", ticket.id, after={"number": number, "candidate": candidate.id_number})
    return ticket, password


# ---------------------------------------------------------------- places: sites, rooms, seats


def create_site(
    session: Session, *, code: str, name: str, actor: str, city: str = "", address: str = ""
) -> Site:
    """A new test site (考点); its code is unique. Commits."""
    with transaction(session):
        return _add_site(session, code=code, name=name, actor=actor, city=city, address=address)


def _add_site(session: Session, *, code: str, name: str, actor: str, city: str, address: str) -> Site:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise SessionSetupError("考点编号和名称都必须填写")
    if session.scalar(select(Site).where(Site.code == code)):
        raise SessionSetupError(f"考点编号 {code} 已存在")
    site = Site(code=code, name=name, city=city.strip(), address=address.strip())
    session.add(site)
    session.flush()
    audit(session, actor, "create_site", "site", site.id, after={"code": code, "name": name})
    return site


def create_room(session: Session, site: Site, *, code: str, name: str, actor: str, seats: int = 0) -> Room:
    """A new exam room (考场) of `site` with seats numbered 1..`seats`. Commits."""
    with transaction(session):
        return _add_room(session, site, code=code, name=name, actor=actor, seats=seats)


def _add_room(session: Session, site: Site, *, code: str, name: str, actor: str, seats: int) -> Room:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise SessionSetupError("考场编号和名称都必须填写")
    if session.scalar(select(Room).where(Room.site_id == site.id, Room.code == code)):
        raise SessionSetupError(f"考点 {site.name} 已有编号为 {code} 的考场")
    room = Room(site_id=site.id, code=code, name=name)
    session.add(room)
    session.flush()
    audit(session, actor, "create_room", "room", room.id, after={"site": site.code, "code": code, "name": name})
    if seats:
        _add_seats(session, room, seats, actor)
    return room


MAX_SEATS_PER_ROOM = 200


def set_seat_count(session: Session, room: Room, count: int, actor: str) -> list[Seat]:
    """Make the room have seats 1..`count`: adds the missing ones; never removes a seat (tickets may use it).
    Commits."""
    with transaction(session):
        return _add_seats(session, room, count, actor)


def _add_seats(session: Session, room: Room, count: int, actor: str) -> list[Seat]:
    if not 1 <= count <= MAX_SEATS_PER_ROOM:
        raise SessionSetupError(f"座位数应在 1 到 {MAX_SEATS_PER_ROOM} 之间（填写的是 {count}）")
    have = set(session.scalars(select(Seat.number).where(Seat.room_id == room.id)))
    if have and count < max(have):
        raise SessionSetupError(f"考场 {room.name} 已有 {max(have)} 个座位，座位不能减少")
    added = [Seat(room_id=room.id, number=n) for n in range(1, count + 1) if n not in have]
    session.add_all(added)
    session.flush()
    if added:
        audit(session, actor, "add_seats", "room", room.id, before={"seats": len(have)}, after={"seats": count})
    session.expire(room, ["seats"])
    return added


def seat_candidates(
    session: Session, exam_session: ExamSession, rooms: list[Room], actor: str
) -> list[Ticket]:
    """Seat every unseated ticket of the sitting, in ticket-number order, on the free seats of `rooms`
    (in the order given, seat numbers ascending). Returns the tickets seated; all or nothing. Commits."""
    with transaction(session):
        return _seat_unseated(session, exam_session, rooms, actor)


def _seat_unseated(session: Session, exam_session: ExamSession, rooms: list[Room], actor: str) -> list[Ticket]:
    unseated = session.scalars(
        select(Ticket).where(Ticket.session_id == exam_session.id, Ticket.seat_id.is_(None)).order_by(Ticket.number)
    ).all()
    if not unseated:
        return []
    taken = set(session.scalars(
        select(Ticket.seat_id).where(Ticket.session_id == exam_session.id, Ticket.seat_id.is_not(None))
    ))
    free = [seat for room in rooms for seat in sorted(room.seats, key=lambda s: s.number) if seat.id not in taken]
    if len(free) < len(unseated):
        names = "、".join(r.name for r in rooms) or "（未选考场）"
        raise SessionSetupError(
            f"座位不够：还有 {len(unseated)} 名考生未安排座位，{names} 只有 {len(free)} 个空座位"
        )
    for ticket, seat in zip(unseated, free, strict=False):
        ticket.seat_id = seat.id
    session.flush()
    audit(session, actor, "seat_candidates", "exam_session", exam_session.id,
          after={"seated": len(unseated), "rooms": [r.id for r in rooms]})
    return list(unseated)


def assign_seat(session: Session, ticket: Ticket, seat: Seat | None, actor: str) -> Ticket:
    """Move one ticket to `seat` (None unseats it); a seat holds one candidate per sitting. Commits."""
    with transaction(session):
        return _move_ticket(session, ticket, seat, actor)


def _move_ticket(session: Session, ticket: Ticket, seat: Seat | None, actor: str) -> Ticket:
    if seat is not None:
        holder = session.scalar(
            select(Ticket).where(Ticket.session_id == ticket.session_id, Ticket.seat_id == seat.id)
        )
        if holder is not None and holder.id != ticket.id:
            raise SessionSetupError(
                f"{seat.room.name} {seat.number} 号座位已安排给考生 {holder.candidate.name}（准考证号 {holder.number}）"
            )
    before = {"seat": ticket.seat_id}
    ticket.seat_id = seat.id if seat is not None else None
    session.flush()
    audit(session, actor, "assign_seat", "ticket", ticket.id, before=before, after={"seat": ticket.seat_id})
    return ticket


def seating(session: Session, exam_session: ExamSession, room: Room | None = None) -> list[Ticket]:
    """The sitting's tickets with their places, ordered by room and seat (unseated last, by number)."""
    query = (
        select(Ticket)
        .outerjoin(Seat, Ticket.seat_id == Seat.id)
        .outerjoin(Room, Seat.room_id == Room.id)
        .where(Ticket.session_id == exam_session.id)
        .options(joinedload(Ticket.candidate), joinedload(Ticket.seat).joinedload(Seat.room).joinedload(Room.site))
        .order_by(Seat.id.is_(None), Room.site_id, Room.code, Seat.number, Ticket.number)
    )
    if room is not None:
        query = query.where(Seat.room_id == room.id)
    return list(session.scalars(query).unique())


def rooms_of_session(session: Session, exam_session: ExamSession) -> list[Room]:
    """The rooms where the sitting has seated candidates, by site and code."""
    return list(session.scalars(
        select(Room).join(Seat, Seat.room_id == Room.id).join(Ticket, Ticket.seat_id == Seat.id)
        .where(Ticket.session_id == exam_session.id).distinct().order_by(Room.site_id, Room.code)
    ))


def mask_id_number(id_number: str) -> str:
    """An ID number as printed on a ticket: first 6 and last 4 shown, the birth date hidden."""
    if len(id_number) <= 10:
        return id_number[:2] + "*" * max(0, len(id_number) - 2)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def seat_at_site(
    session: Session,
    exam_session: ExamSession,
    *,
    site_code: str,
    site_name: str,
    actor: str,
    room_size: int = 30,
    city: str = "",
) -> list[Room]:
    """Seat every unseated ticket of the sitting at site `site_code` (created if new), adding rooms
    of `room_size` seats (第1考场, 第2考场 ...) as needed; returns the rooms used, in order. Flushes."""
    site = session.scalar(select(Site).where(Site.code == site_code)) or _add_site(
        session, code=site_code, name=site_name, city=city, actor=actor, address=""
    )
    unseated = session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.session_id == exam_session.id, Ticket.seat_id.is_(None))
    ) or 0
    rooms = list(site.rooms)
    free = 0
    taken = set(session.scalars(
        select(Ticket.seat_id).where(Ticket.session_id == exam_session.id, Ticket.seat_id.is_not(None))
    ))
    for room in rooms:
        free += sum(1 for seat in room.seats if seat.id not in taken)
    while free < unseated:
        number = len(rooms) + 1
        room = _add_room(session, site, code=f"{number:02d}", name=f"第{number}考场", seats=room_size, actor=actor)
        rooms.append(room)
        free += room_size
    _seat_unseated(session, exam_session, rooms, actor)
    return [r for r in rooms_of_session(session, exam_session) if r.site_id == site.id]


# ---------------------------------------------------------------- staffing a room


def assign_proctor(session: Session, user: User, room: Room | None, actor: str) -> User:
    """Make `user` (a proctor) the proctor of `room` (None clears it). Commits."""
    if "proctor" not in user.roles:
        raise SessionSetupError(f"用户 {user.username} 没有监考员角色。", code="not_a_proctor")
    with transaction(session):
        before = {"room_id": user.room_id}
        user.room_id = room.id if room is not None else None
        audit(session, actor, "assign_proctor", "user", user.id, before=before, after={"room_id": user.room_id})
    return user

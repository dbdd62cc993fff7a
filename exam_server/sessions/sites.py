"""Test sites (上机考试点) as the organisations see them: the centre a site belongs to, its filing number
(备案编号), and the scope checks every screen of sites, rooms and sittings makes.

A site belongs to one assessment centre (`Site.centre_id`); its staff see and run it, the province sees every
site, the police read them (organisations/scope.py). A sitting belongs to the centre that runs it
(`ExamSession.centre_id`). Writes commit, are audited, and are refused with the field named.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from exam_server.organisations.models import Centre
from exam_server.organisations.scope import Scope
from exam_server.sessions.models import ExamSession, Room, Site
from exam_server.sessions.operations import SessionSetupError
from item_bank.audit import audit
from item_bank.kernel import transaction

MAX_FILING_NUMBER = 60


def _state(site: Site) -> dict[str, Any]:
    return {"code": site.code, "name": site.name, "city": site.city, "address": site.address,
            "centre_id": site.centre_id, "filing_number": site.filing_number}


def _field(field: str, message: str, code: str = "site_field") -> SessionSetupError:
    return SessionSetupError(f"{field}：{message}", code=code, field=field)


def _filing_number(session: Session, value: str | None, own_id: int | None) -> str:
    number = (value or "").strip()
    if len(number) > MAX_FILING_NUMBER:
        raise _field("备案编号", f"不能超过 {MAX_FILING_NUMBER} 个字符（现为 {len(number)} 个）")
    if number:
        holder = session.scalar(select(Site).where(Site.filing_number == number))
        if holder is not None and holder.id != own_id:
            raise _field("备案编号", f"{number} 已是考点 {holder.name}（{holder.code}）的备案编号", "filing_number_taken")
    return number


def _centre(session: Session, centre_id: int | None, scope: Scope | None) -> int | None:
    """The centre a site goes to: the one asked for, else the account's own; checked against the scope."""
    if centre_id is None and scope is not None:
        centre_id = scope.own_centre_id
    if centre_id is not None and session.get(Centre, centre_id) is None:
        raise _field("鉴定中心", f"没有编号为 {centre_id} 的鉴定中心", "no_such_centre")
    if scope is not None:
        scope.check_write()
        scope.check_centre(centre_id, "鉴定中心")
    return centre_id


def create_site(
    session: Session,
    *,
    code: str,
    name: str,
    actor: str,
    centre_id: int | None = None,
    filing_number: str | None = "",
    city: str = "",
    address: str = "",
    scope: Scope | None = None,
) -> Site:
    """A new test site of centre `centre_id` (by default the account's own centre) with its filing number.
    Commits."""
    code, name = (code or "").strip(), (name or "").strip()
    if not code:
        raise _field("考点编号", "必须填写")
    if not name:
        raise _field("考点名称", "必须填写")
    if len(code) > 40:
        raise _field("考点编号", f"不能超过 40 个字符（现为 {len(code)} 个）")
    if session.scalar(select(Site).where(Site.code == code)):
        raise _field("考点编号", f"{code} 已存在", "site_exists")
    centre = _centre(session, centre_id, scope)
    number = _filing_number(session, filing_number, None)
    with transaction(session):
        site = Site(code=code, name=name[:200], city=(city or "").strip()[:60], address=(address or "").strip()[:300],
                    centre_id=centre, filing_number=number)
        session.add(site)
        session.flush()
        audit(session, actor, "create_site", "site", site.id, after=_state(site))
    return site


def update_site(
    session: Session,
    site: Site,
    *,
    actor: str,
    name: str | None = None,
    filing_number: str | None = None,
    centre_id: int | None = None,
    city: str | None = None,
    address: str | None = None,
    scope: Scope | None = None,
) -> Site:
    """Change a site's name, filing number, city, address or centre (None: unchanged). A centre's staff change
    their own sites only and cannot hand one to another centre. Commits."""
    if scope is not None:
        scope.check_write()
        scope.check_centre(site.centre_id, "考点")
    new_centre = _centre(session, centre_id, scope) if centre_id is not None else site.centre_id
    number = _filing_number(session, filing_number, site.id) if filing_number is not None else site.filing_number
    new_name = site.name
    if name is not None:
        new_name = name.strip()
        if not new_name:
            raise _field("考点名称", "必须填写")
    before = _state(site)
    with transaction(session):
        site.name, site.filing_number, site.centre_id = new_name[:200], number, new_centre
        if city is not None:
            site.city = city.strip()[:60]
        if address is not None:
            site.address = address.strip()[:300]
        session.flush()
        audit(session, actor, "update_site", "site", site.id, before=before, after=_state(site))
    return site


def sites_query(scope: Scope) -> Select[tuple[Site]]:
    """The sites `scope` sees, by code."""
    return select(Site).where(scope.centre_clause(Site.centre_id)).order_by(Site.code)


def rooms_query(scope: Scope) -> Select[tuple[Room]]:
    """The rooms of the sites `scope` sees, by site and code."""
    return (select(Room).join(Site, Room.site_id == Site.id).where(scope.centre_clause(Site.centre_id))
            .order_by(Site.code, Room.code))


def sittings_query(scope: Scope) -> Select[tuple[ExamSession]]:
    """The sittings `scope` sees, newest first."""
    return (select(ExamSession).where(scope.centre_clause(ExamSession.centre_id))
            .order_by(ExamSession.starts_at.desc()))


def check_site(scope: Scope, site: Site) -> None:
    """Refuse (403, in Chinese) a site of another centre."""
    scope.check_centre(site.centre_id, "考点")


def check_room(scope: Scope, room: Room) -> None:
    """Refuse (403) a room of another centre's site."""
    scope.check_centre(room.site.centre_id, "考场")


def check_sitting(scope: Scope, exam_session: ExamSession) -> None:
    """Refuse (403) a sitting another centre runs."""
    scope.check_centre(exam_session.centre_id, "考试场次")

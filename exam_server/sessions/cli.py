"""Setting up places and printing from a shell: sites, rooms, seating, tickets, seating lists, and the proctor in
charge of a room. A refused set-up exits with its Chinese reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from sqlalchemy import select

from exam_server.core.cli import command_actor, one_or_refuse, refusals_as_click_errors, user_by_name
from exam_server.core.timefmt import DISPLAY_ZONE, local
from exam_server.extensions import db
from exam_server.organisations import operations as org_ops
from exam_server.organisations.models import Centre, City, PilotUnit
from exam_server.sessions import credentials, scheduling
from exam_server.sessions import operations as ops
from exam_server.sessions import sites as site_ops
from exam_server.sessions.intake import applicants_for, mark_ticketed
from exam_server.sessions.models import TIMINGS, ExamSession, Room, Site, Ticket
from exam_server.sessions.operations import exam_session_by_ref
from exam_server.sessions.pdf import LEVELS, PARTS, password_slips_pdf, seating_list_pdf, tickets_pdf
from item_bank.models import Form


def sitting_by_ref(ref: str) -> ExamSession:
    """The sitting with this code (or numeric id), or a refusal naming it."""
    return one_or_refuse(exam_session_by_ref(db.session, ref), f"没有考试场次 {ref}")


def _room(ref: str) -> Room:
    """A room named SITE:ROOM (site code, room code)."""
    site_code, _, room_code = ref.partition(":")
    room = db.session.scalar(select(Room).join(Site).where(Site.code == site_code, Room.code == room_code))
    if room is None:
        raise click.ClickException(f"没有考场 {ref}（格式：考点编号:考场编号）")
    return room


def site_by_code(code: str) -> Site:
    """The test site with this code, or a refusal naming it."""
    return one_or_refuse(db.session.scalar(select(Site).where(Site.code == code)), f"没有考点 {code}")


@click.command("create-site")
@click.argument("code")
@click.argument("name")
@click.option("--city", default="")
@click.option("--address", default="")
@click.option("--centre", default=None, help="所属鉴定中心（编号或名称，见 examctl list-centres）")
@click.option("--filing-number", default="", help="上机考试点备案编号")
@refusals_as_click_errors
def create_site(code: str, name: str, city: str, address: str, centre: str | None, filing_number: str) -> None:
    """新建考点：编号 CODE，名称 NAME。"""
    centre_id = org_ops.find(db.session, Centre, centre, "--centre").id if centre else None
    site = site_ops.create_site(db.session, code=code, name=name, city=city, address=address, centre_id=centre_id,
                                filing_number=filing_number, actor=command_actor())
    click.echo(f"已创建考点 {site.code} {site.name}")


@click.command("update-site")
@click.argument("code")
@click.option("--name", default=None)
@click.option("--city", default=None)
@click.option("--address", default=None)
@click.option("--centre", default=None, help="所属鉴定中心（编号或名称）")
@click.option("--filing-number", default=None, help="上机考试点备案编号")
@refusals_as_click_errors
def update_site(code: str, name: str | None, city: str | None, address: str | None, centre: str | None,
                filing_number: str | None) -> None:
    """修改考点 CODE：名称、城市、地址、所属鉴定中心、备案编号（未给出的不变）。"""
    centre_id = org_ops.find(db.session, Centre, centre, "--centre").id if centre else None
    site = site_ops.update_site(db.session, site_by_code(code), name=name, city=city, address=address, centre_id=centre_id,
                                filing_number=filing_number, actor=command_actor())
    click.echo(f"已保存考点 {site.code} {site.name}（备案编号 {site.filing_number or '未填'}）")


@click.command("create-room")
@click.argument("site_code")
@click.argument("code")
@click.argument("name")
@click.option("--seats", type=int, required=True, help="座位数")
@refusals_as_click_errors
def create_room(site_code: str, code: str, name: str, seats: int) -> None:
    """在考点 SITE_CODE 新建考场 CODE（名称 NAME），座位 1..N。"""
    site = site_by_code(site_code)
    room = ops.create_room(db.session, site, code=code, name=name, seats=seats, actor=command_actor())
    click.echo(f"已创建考场 {site.code}:{room.code} {room.name}，{seats} 个座位")


@click.command("seat-candidates")
@click.argument("session_code")
@click.option("--room", "rooms", multiple=True, required=True, help="考点编号:考场编号，可重复，按顺序排座")
@refusals_as_click_errors
def seat_candidates(session_code: str, rooms: tuple[str, ...]) -> None:
    """编排座位：把场次 SESSION_CODE 尚未安排座位的考生按准考证号排入指定考场。"""
    exam_session = sitting_by_ref(session_code)
    seated = ops.seat_candidates(db.session, exam_session, [_room(r) for r in rooms], command_actor())
    click.echo(f"已为 {len(seated)} 名考生安排座位")


@click.command("print-tickets")
@click.argument("session_code")
@click.option("--room", default=None, help="只打印这个考场（考点编号:考场编号）")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals_as_click_errors
def print_tickets(session_code: str, room: str | None, output: Path) -> None:
    """打印准考证：把场次 SESSION_CODE 的准考证写成 PDF，印上尚未登录过的考生的初始密码。"""
    exam_session = sitting_by_ref(session_code)
    rows = [t for t in ops.seating(db.session, exam_session, _room(room) if room else None) if t.status == "active"]
    passwords = credentials.printable_passwords(rows, credentials.app_secret())
    if exam_session.password_slip:
        output.write_bytes(tickets_pdf(rows))
        slips = output.with_name(f"{output.stem}-密码条.pdf")
        slips.write_bytes(password_slips_pdf(rows, passwords))
        click.echo(f"已写入 {len(rows)} 张准考证：{output}；密码条：{slips}")
    else:
        output.write_bytes(tickets_pdf(rows, passwords))
        click.echo(f"已写入 {len(rows)} 张准考证（{len(passwords)} 张印有初始密码）：{output}")


@click.command("print-seating")
@click.argument("session_code")
@click.argument("room_ref", metavar="SITE:ROOM")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals_as_click_errors
def print_seating(session_code: str, room_ref: str, output: Path) -> None:
    """打印座位表：把场次 SESSION_CODE 某一考场的座位表写成 PDF。"""
    exam_session = sitting_by_ref(session_code)
    room = _room(room_ref)
    rows = ops.seating(db.session, exam_session, room)
    output.write_bytes(seating_list_pdf(exam_session, room, rows))
    click.echo(f"已写入座位表（{len(rows)} 人）：{output}")


@click.command("assign-proctor")
@click.argument("username")
@click.argument("site_code")
@click.argument("room_code")
@refusals_as_click_errors
def assign_proctor(username: str, site_code: str, room_code: str) -> None:
    """指定监考员：让监考员 USERNAME 负责考点 SITE_CODE 的考场 ROOM_CODE。"""
    user = user_by_name(username)
    room = db.session.scalar(select(Room).join(Site).where(Site.code == site_code, Room.code == room_code))
    if room is None:
        raise click.ClickException(f"考点 {site_code} 没有考场 {room_code}")
    ops.assign_proctor(db.session, user, room, command_actor())
    click.echo(f"{user.display_name}（{username}）现在监考 {room.site.name} {room.name}")


def _local_time(date: str, hhmm: str, what: str) -> dt.datetime:
    """A Beijing date and time from the command line, as UTC."""
    try:
        moment = dt.datetime.strptime(f"{date} {hhmm}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise click.ClickException(f"{what}格式不对：{date} {hhmm}（应为 2026-12-20 和 09:00）") from None
    return moment.replace(tzinfo=DISPLAY_ZONE).astimezone(dt.UTC)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace("，", ",").split(",") if v.strip()]


@click.command("create-sitting")
@click.option("--code", default=None, help="场次编号（默认 等级-科目-日期-开始时间）")
@click.option("--name", default=None, help="场次名称")
@click.option("--level", type=int, required=True, help="等级 5..1")
@click.option("--part", required=True, help="科目 theory / skill / written …")
@click.option("--form", "forms", required=True, help="试卷编号，平行卷用逗号分隔（须已锁定）")
@click.option("--site", required=True, help="考点编号")
@click.option("--rooms", required=True, help="考场编号，逗号分隔，按此顺序排座")
@click.option("--date", required=True, help="考试日期 YYYY-MM-DD（北京时间）")
@click.option("--start", required=True, help="开始时间 HH:MM")
@click.option("--end", required=True, help="结束时间 HH:MM")
@click.option("--timing", type=click.Choice(sorted(TIMINGS)), default="common", show_default=True,
              help="common 统一结束；own_start 各自从开始答题起计时")
@click.option("--late-entry", "late_entry_min", type=int, default=15, show_default=True, help="开考后多少分钟不得入场")
@click.option("--min-submit", "min_submit_min", type=int, default=30, show_default=True, help="开考后多少分钟内不得交卷")
@click.option("--password-slip", is_flag=True, help="初始密码印在单独的密码条上，而非准考证上")
@refusals_as_click_errors
def create_sitting(code: str | None, name: str | None, level: int, part: str, forms: str, site: str, rooms: str,
                   date: str, start: str, end: str, timing: str, late_entry_min: int, min_submit_min: int,
                   password_slip: bool) -> None:
    """新建考试场次：等级、科目、试卷、考点考场、日期、起止时间和考试规则。"""
    the_site = site_by_code(site)
    chosen_rooms = []
    for room_code in _split(rooms):
        room = db.session.scalar(select(Room).where(Room.site_id == the_site.id, Room.code == room_code))
        if room is None:
            raise click.ClickException(f"考点 {site} 没有考场 {room_code}")
        chosen_rooms.append(room)
    chosen_forms = []
    for form_code in _split(forms):
        form = db.session.scalar(select(Form).where(Form.code == form_code))
        if form is None:
            raise click.ClickException(f"没有试卷 {form_code}")
        chosen_forms.append(form)
    starts_at, ends_at = _local_time(date, start, "开始时间"), _local_time(date, end, "结束时间")
    code = code or f"L{level}-{part}-{date.replace('-', '')}-{start.replace(':', '')}"
    exam_session = scheduling.create_sitting(
        db.session, code=code, name=name or f"{date} {level}级 {part} {start}—{end}", forms=chosen_forms,
        rooms=chosen_rooms, starts_at=starts_at, ends_at=ends_at, actor=command_actor(), level=level, part=part,
        rules=ops.SittingRules(timing=timing, late_entry_min=late_entry_min, min_submit_min=min_submit_min,
                               password_slip=password_slip),
    )
    click.echo(exam_session.code)


@click.command("list-sittings")
def list_sittings() -> None:
    """列出考试场次：每行一个，场次编号在前。"""
    for s in db.session.scalars(select(ExamSession).order_by(ExamSession.starts_at, ExamSession.code)):
        # Words, not stored codes (theory, scheduled): a centre's staff read this list.
        rooms = ",".join(f"{sr.room.site.code}:{sr.room.code}" for sr in s.rooms)
        click.echo(f"{s.code}\t{local(s.starts_at, '%Y-%m-%d %H:%M')}\t{LEVELS.get(s.level, s.level)}\t"
                   f"{PARTS.get(s.part, s.part)}\t{rooms}\t{s.name}")


@click.command("list-sites")
def list_sites() -> None:
    """列出考点：每行一个，考点编号在前，后面是考场编号。"""
    for site in db.session.scalars(select(Site).order_by(Site.code)):
        click.echo(f"{site.code}\t{site.name}\t{','.join(r.code for r in site.rooms)}")


@click.command("schedule-sitting")
@click.argument("session_code")
@click.option("--unit", "units", multiple=True, help="试点单位编号或名称，可重复")
@click.option("--city", default=None, help="城市名称（该市的试点单位）")
@click.option("--applications", default="", help="申请编号，逗号分隔")
@refusals_as_click_errors
def schedule_sitting(session_code: str, units: tuple[str, ...], city: str | None, applications: str) -> None:
    """编排考生：把通过复审的申请（按单位、城市或申请编号）排入场次 SESSION_CODE 的座位，发放准考证；免考理论知识的列出不排。"""
    exam_session = sitting_by_ref(session_code)
    unit_ids = [org_ops.find(db.session, PilotUnit, ref, "--unit").id for ref in units]
    city_id = org_ops.find(db.session, City, city, "--city").id if city else None
    ids = [int(v) for v in _split(applications) if v.isdigit()]
    if not (unit_ids or city_id or ids):
        raise click.ClickException("请用 --unit、--city 或 --applications 指定要编排的申请")
    applicants = applicants_for(db.session, exam_session, unit_ids=unit_ids or None, city_id=city_id,
                                application_ids=ids or None)
    actor = command_actor()
    report = scheduling.schedule(db.session, exam_session, applicants, actor, secret=credentials.app_secret(),
                                 on_ticketed=lambda session, done: mark_ticketed(session, done, actor))
    for line in report.lines(exam_session):
        click.echo(line)


def _ticket(number: str) -> Ticket:
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None:
        raise click.ClickException(f"没有准考证 {number}")
    return ticket


@click.command("reset-password")
@click.argument("ticket_number")
@click.option("--reason", default="", help="原因")
@refusals_as_click_errors
def reset_password(ticket_number: str, reason: str) -> None:
    """重置考生密码：旧密码作废，已登录的会话全部结束；新密码只显示这一次。"""
    password = credentials.reset_password(db.session, _ticket(ticket_number), command_actor(), reason)
    click.echo(f"准考证 {ticket_number} 的新密码：{password}")


@click.command("withdraw-candidate")
@click.argument("ticket_number")
@click.option("--reason", required=True, help="原因")
@refusals_as_click_errors
def withdraw_candidate(ticket_number: str, reason: str) -> None:
    """撤销考生的场次安排（开考前）：座位空出，准考证不能再登录。"""
    ticket = scheduling.withdraw(db.session, _ticket(ticket_number), command_actor(), reason)
    click.echo(f"已撤销准考证 {ticket.number}（{ticket.candidate.name}）")


@click.command("set-accommodation")
@click.argument("ticket_number")
@click.option("--extra", "extra_min", type=int, default=0, help="延长的分钟数")
@click.option("--separate-room", is_flag=True, help="单独考场")
@click.option("--reason", default="", help="原因（有特殊安排时必填）")
@refusals_as_click_errors
def set_accommodation(ticket_number: str, extra_min: int, separate_room: bool, reason: str) -> None:
    """登记考生的特殊安排（开考前）：延长时间、单独考场，须写明原因。"""
    ticket = scheduling.set_accommodation(db.session, _ticket(ticket_number), extra_min=extra_min,
                                          separate_room=separate_room, reason=reason, actor=command_actor())
    click.echo(f"准考证 {ticket.number}：延长 {ticket.extra_time_s // 60} 分钟，"
               f"{'单独考场' if ticket.separate_room else '不单独安排考场'}")


commands = [create_site, update_site, create_room, seat_candidates, print_tickets, print_seating, assign_proctor,
            create_sitting, schedule_sitting, list_sittings, list_sites, reset_password, withdraw_candidate,
            set_accommodation]

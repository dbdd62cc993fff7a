"""Setting up places and printing from a shell: sites, rooms, seating, tickets, seating lists, and the proctor in
charge of a room. A refused set-up exits with its Chinese reason."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.organisations import operations as org_ops
from exam_server.organisations.models import Centre
from exam_server.sessions import operations as ops
from exam_server.sessions import sites as site_ops
from exam_server.sessions.models import ExamSession, Room, Site
from exam_server.sessions.pdf import seating_list_pdf, tickets_pdf


def _exam_session(code: str) -> ExamSession:
    exam_session = db.session.scalar(select(ExamSession).where(ExamSession.code == code))
    if exam_session is None:
        raise click.ClickException(f"没有考试场次 {code}")
    return exam_session


def _room(ref: str) -> Room:
    """A room named SITE:ROOM (site code, room code)."""
    site_code, _, room_code = ref.partition(":")
    room = db.session.scalar(select(Room).join(Site).where(Site.code == site_code, Room.code == room_code))
    if room is None:
        raise click.ClickException(f"没有考场 {ref}（格式：考点编号:考场编号）")
    return room


def _site(code: str) -> Site:
    site = db.session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise click.ClickException(f"没有考点 {code}")
    return site


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
    site = site_ops.update_site(db.session, _site(code), name=name, city=city, address=address, centre_id=centre_id,
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
    site = _site(site_code)
    room = ops.create_room(db.session, site, code=code, name=name, seats=seats, actor=command_actor())
    click.echo(f"已创建考场 {site.code}:{room.code} {room.name}，{seats} 个座位")


@click.command("seat-candidates")
@click.argument("session_code")
@click.option("--room", "rooms", multiple=True, required=True, help="考点编号:考场编号，可重复，按顺序排座")
@refusals_as_click_errors
def seat_candidates(session_code: str, rooms: tuple[str, ...]) -> None:
    """编排座位：把场次 SESSION_CODE 尚未安排座位的考生按准考证号排入指定考场。"""
    exam_session = _exam_session(session_code)
    seated = ops.seat_candidates(db.session, exam_session, [_room(r) for r in rooms], command_actor())
    click.echo(f"已为 {len(seated)} 名考生安排座位")


@click.command("print-tickets")
@click.argument("session_code")
@click.option("--room", default=None, help="只打印这个考场（考点编号:考场编号）")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals_as_click_errors
def print_tickets(session_code: str, room: str | None, output: Path) -> None:
    """打印准考证：把场次 SESSION_CODE 的准考证写成 PDF。"""
    exam_session = _exam_session(session_code)
    rows = ops.seating(db.session, exam_session, _room(room) if room else None)
    output.write_bytes(tickets_pdf(rows))
    click.echo(f"已写入 {len(rows)} 张准考证：{output}")


@click.command("print-seating")
@click.argument("session_code")
@click.argument("room_ref", metavar="SITE:ROOM")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals_as_click_errors
def print_seating(session_code: str, room_ref: str, output: Path) -> None:
    """打印座位表：把场次 SESSION_CODE 某一考场的座位表写成 PDF。"""
    exam_session = _exam_session(session_code)
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
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"没有用户 {username}")
    room = db.session.scalar(select(Room).join(Site).where(Site.code == site_code, Room.code == room_code))
    if room is None:
        raise click.ClickException(f"考点 {site_code} 没有考场 {room_code}")
    ops.assign_proctor(db.session, user, room, command_actor())
    click.echo(f"{user.display_name}（{username}）现在监考 {room.site.name} {room.name}")


commands = [create_site, update_site, create_room, seat_candidates, print_tickets, print_seating, assign_proctor]

"""`examctl verify-log`: check attempts' event logs as hash chains, on a site or at the centre, at any time.

`--sitting CODE` checks every attempt of a sitting (a site before its results package leaves, the centre after
an import). Exit code 0: every chain named is intact; 1: one is broken (the first broken event is named); 2: an attempt
that does not exist.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from exam_server.delivery.chain import verify_attempt
from exam_server.delivery.models import Attempt
from exam_server.extensions import db
from exam_server.sessions.models import ExamSession, Ticket


def _attempt_id(ref: str) -> int | None:
    """An attempt by its id, or by its candidate's ticket number (准考证号)."""
    if ref.isdigit():
        found = db.session.scalar(select(Attempt.id).where(Attempt.id == int(ref)))
        if found is not None:
            return found
    return db.session.scalar(select(Attempt.id).join(Ticket, Ticket.id == Attempt.ticket_id).where(Ticket.number == ref))


@click.command("verify-log")
@click.argument("attempts", nargs=-1, metavar="[ATTEMPT]...")
@click.option("--sitting", default=None, help="核验该考试场次（编号）的全部作答记录")
def verify_log(attempts: tuple[str, ...], sitting: str | None) -> None:
    """核验作答记录的事件日志（哈希链）：ATTEMPT 为作答记录编号或准考证号；发现被改动、删除或调换的事件时指出第一处并以 1 退出。"""
    refs = list(attempts)
    if sitting is not None:
        session_id = db.session.scalar(select(ExamSession.id).where(ExamSession.code == sitting))
        if session_id is None:
            click.echo(f"没有考试场次 {sitting}", err=True)
            sys.exit(2)
        refs += [str(i) for i in db.session.scalars(select(Attempt.id).where(Attempt.session_id == session_id)
                                                    .order_by(Attempt.id))]
    if not refs:
        click.echo("请给出作答记录编号、准考证号或 --sitting 考试场次编号", err=True)
        sys.exit(2)
    broken = False
    for ref in refs:
        attempt_id = _attempt_id(ref)
        report = verify_attempt(db.session, attempt_id) if attempt_id is not None else None
        if report is None:
            click.echo(f"没有作答记录 {ref}（按编号和准考证号都没有找到）", err=True)
            sys.exit(2)
        name = f"作答记录 {attempt_id}"
        if report.broken is None:
            click.echo(f"{name}：事件记录完整，共 {report.events} 个事件，末尾哈希 {report.head[:16]}…")
        else:
            broken = True
            click.echo(report.broken.message(name), err=True)
    if broken:
        sys.exit(1)


commands = [verify_log]

"""Proctoring from a shell: replay an attempt's log. (Putting a proctor in charge of a room is a set-up step:
`examctl assign-proctor`, in exam_server/sessions/cli.py.)"""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import Attempt
from exam_server.extensions import db
from exam_server.proctoring.replay import parse_moment, render_text, replay_attempt, screen_as_dict
from exam_server.sessions.models import Ticket


def _attempt(ref: str) -> Attempt:
    """An attempt by id, or by its ticket number."""
    attempt = db.session.get(Attempt, int(ref)) if ref.isdigit() and len(ref) < 10 else None
    if attempt is None:
        attempt = db.session.scalar(select(Attempt).join(Ticket, Attempt.ticket_id == Ticket.id)
                                    .where(Ticket.number == ref))
    if attempt is None:
        raise click.ClickException(f"没有找到作答记录 {ref}（可填作答记录编号或准考证号）")
    return attempt


@click.command("attempt-log")
@click.argument("attempt_ref", metavar="ATTEMPT")
@click.option("--at", "at_text", default=None,
              help="回放到这一时刻（北京时间 HH:MM[:SS]，或 ISO 时间）；默认现在")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出屏幕状态")
def attempt_log(attempt_ref: str, at_text: str | None, as_json: bool) -> None:
    """作答回放：按作答记录（编号或准考证号）的事件日志，还原考生屏幕在任一时刻的状态。"""
    attempt = _attempt(attempt_ref)
    at = None
    if at_text:
        day = attempt.session.starts_at.astimezone(DISPLAY_ZONE).date()
        try:
            at = parse_moment(at_text, day)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        screen = replay_attempt(db.session, attempt, at)
        click.echo(json.dumps(screen_as_dict(db.session, attempt, screen), ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(db.session, attempt, at))


commands = [attempt_log]

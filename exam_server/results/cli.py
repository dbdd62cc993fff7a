"""`examctl score-session`, `correct-key`, `release-results`: scoring and releasing a sitting from a shell."""

from __future__ import annotations

import getpass

import click
from sqlalchemy import select

from exam_server.extensions import db
from exam_server.results import operations as ops
from exam_server.sessions.models import ExamSession


def _actor() -> str:
    return f"operator:{getpass.getuser()}"


def find_session(ref: str) -> ExamSession:
    """The exam session with this code (or numeric id); a ClickException names a missing one."""
    exam_session = db.session.scalar(select(ExamSession).where(ExamSession.code == ref))
    if exam_session is None and ref.isdigit():
        exam_session = db.session.get(ExamSession, int(ref))
    if exam_session is None:
        raise click.ClickException(f"没有编号为 {ref} 的考试场次")
    return exam_session


@click.command("score-session")
@click.argument("session_ref", metavar="SESSION")
@click.option("--dry-run", is_flag=True, help="只试算，不保存")
def score_session(session_ref: str, dry_run: bool) -> None:
    """评分：按已锁定试卷、答案更正和阅卷定分，对整场考试的全部交卷记录评分。"""
    exam_session = find_session(session_ref)
    try:
        report = ops.score_session(db.session, exam_session, _actor(), dry_run=dry_run)
    except ops.ResultsError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)


@click.command("correct-key")
@click.argument("session_ref", metavar="SESSION")
@click.argument("item")
@click.option("--reason", required=True, help="更正原因（记入审计）")
@click.option("--version", "version_no", type=int, default=None, help="按该版本的答案评分（默认最新版本）")
@click.option("--dry-run", is_flag=True, help="只试算哪些考生的成绩会变化，不保存")
def correct_key(session_ref: str, item: str, reason: str, version_no: int | None, dry_run: bool) -> None:
    """更正答案：按试题 ITEM 的新版本答案对整场考试重新评分，列出成绩变化的考生及原因。"""
    exam_session = find_session(session_ref)
    try:
        report = ops.correct_key(db.session, exam_session, item, _actor(), reason, new_version_no=version_no,
                                 dry_run=dry_run)
    except ops.ResultsError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)


@click.command("release-results")
@click.argument("session_ref", metavar="SESSION")
def release_results(session_ref: str) -> None:
    """发布成绩：把本场次全部待发布的成绩发布给考生。"""
    exam_session = find_session(session_ref)
    n = ops.release_results(db.session, exam_session.id, _actor())
    click.echo(f"考试场次 {exam_session.code}：已发布 {n} 条成绩")


commands = [score_session, correct_key, release_results]

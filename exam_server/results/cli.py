"""`examctl score-session`, `correct-key`, `release-results`: scoring and releasing a sitting from a shell.
A refusal exits with its Chinese reason."""

from __future__ import annotations

import click

from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.extensions import db
from exam_server.results.corrections import correct_key as correct_key_of
from exam_server.results.release import release_results as release_results_of
from exam_server.results.scoring import score_session as score_session_of
from exam_server.sessions.cli import sitting_by_ref


@click.command("score-session")
@click.argument("session_ref", metavar="SESSION")
@click.option("--dry-run", is_flag=True, help="只试算，不保存")
@refusals_as_click_errors
def score_session(session_ref: str, dry_run: bool) -> None:
    """评分：按已锁定试卷、答案更正和阅卷定分，对整场考试的全部交卷记录评分。"""
    report = score_session_of(db.session, sitting_by_ref(session_ref), command_actor(), dry_run=dry_run)
    click.echo("\n".join(report.lines()))


@click.command("correct-key")
@click.argument("session_ref", metavar="SESSION")
@click.argument("item")
@click.option("--reason", required=True, help="更正原因（记入审计）")
@click.option("--version", "version_no", type=int, default=None, help="按该版本的答案评分（默认最新版本）")
@click.option("--dry-run", is_flag=True, help="只试算哪些考生的成绩会变化，不保存")
@refusals_as_click_errors
def correct_key(session_ref: str, item: str, reason: str, version_no: int | None, dry_run: bool) -> None:
    """更正答案：按试题 ITEM 的新版本答案对整场考试重新评分，列出成绩变化的考生及原因。"""
    report = correct_key_of(db.session, sitting_by_ref(session_ref), item, command_actor(), reason,
                            new_version_no=version_no, dry_run=dry_run)
    click.echo("\n".join(report.lines()))


@click.command("release-results")
@click.argument("session_ref", metavar="SESSION")
@click.option("--ticket", "tickets", multiple=True, help="只发布这些准考证号的考生（部分发布，须填 --reason）")
@click.option("--reason", default="", help="部分发布的原因（记入审计）")
@refusals_as_click_errors
def release_results(session_ref: str, tickets: tuple[str, ...], reason: str) -> None:
    """发布成绩：把本场次全部待发布的成绩发布给考生；有未结束的作答或未完成的阅卷任务时拒绝并列出。"""
    exam_session = sitting_by_ref(session_ref)
    report = release_results_of(db.session, exam_session.id, command_actor(),
                                tickets=list(tickets) if tickets else None, reason=reason)
    click.echo("\n".join(report.lines()))


commands = [score_session, correct_key, release_results]

"""`examctl assign-grading`, `grading-status`: people's grading from a shell. A refusal exits with its Chinese
reason. (`examctl demo-grading`, which seeds a whole sitting, lives at the composition root: exam_server/demo.py.)"""

from __future__ import annotations

import click

from exam_server.core.cli import command_actor, refusals_as_click_errors, user_by_name
from exam_server.extensions import db
from exam_server.grading.assignment import assign_tasks
from exam_server.grading.monitoring import monitor
from exam_server.grading.states import STATUS_LABELS
from exam_server.sessions.cli import sitting_by_ref


@click.command("assign-grading")
@click.argument("session_ref", metavar="SESSION")
@click.option("--grader", "graders", multiple=True, required=True, help="阅卷员用户名（至少两名）")
@refusals_as_click_errors
def assign_grading(session_ref: str, graders: tuple[str, ...]) -> None:
    """分配阅卷任务：本场次待分配的任务每个分给两名阅卷员。"""
    exam_session = sitting_by_ref(session_ref)
    ids = []
    for name in graders:
        ids.append(user_by_name(name).id)
    n = assign_tasks(db.session, exam_session, ids, command_actor())
    click.echo(f"已分配 {n} 个任务")


@click.command("grading-status")
@click.argument("session_ref", metavar="SESSION")
def grading_status(session_ref: str) -> None:
    """阅卷进度：各状态任务数，各阅卷员的工作量与评分一致性。"""
    exam_session = sitting_by_ref(session_ref)
    m = monitor(db.session, exam_session)
    click.echo(f"{exam_session.code}：共 {m.total} 个任务  " + "  ".join(
        f"{STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(m.by_status.items())))
    click.echo(f"{'阅卷员':<12} 待评 已评  配对  完全一致  允许分差内  相关")
    for g in m.graders:
        exact = f"{g.exact:.0%}" if g.exact is not None else "-"
        adjacent = f"{g.adjacent:.0%}" if g.adjacent is not None else "-"
        r = f"{g.pearson_r:.2f}" if g.pearson_r is not None else "-"
        click.echo(f"{g.name:<12} {g.open:>4} {g.done:>4} {g.n_pairs:>5} {exact:>9} {adjacent:>10} {r:>6}")
    for t in m.adjudication:
        click.echo(f"待仲裁 {t.code} {t.title}")


commands = [assign_grading, grading_status]

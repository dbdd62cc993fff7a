"""`examctl assign-grading`, `grading-status`, `demo-grading`: people's grading from a shell."""

from __future__ import annotations

import getpass
import time

import click
from flask import current_app
from sqlalchemy import select

from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.grading import operations as ops
from exam_server.grading.states import STATUS_LABELS
from exam_server.results.cli import find_session
from item_bank.db import utcnow


def _actor() -> str:
    return f"operator:{getpass.getuser()}"


@click.command("assign-grading")
@click.argument("session_ref", metavar="SESSION")
@click.option("--grader", "graders", multiple=True, required=True, help="阅卷员用户名（至少两名）")
def assign_grading(session_ref: str, graders: tuple[str, ...]) -> None:
    """分配阅卷任务：本场次待分配的任务每个分给两名阅卷员。"""
    exam_session = find_session(session_ref)
    ids = []
    for name in graders:
        user = db.session.scalar(select(User).where(User.username == name))
        if user is None:
            raise click.ClickException(f"没有用户 {name}")
        ids.append(user.id)
    try:
        n = ops.assign_tasks(db.session, exam_session, ids, _actor())
    except ops.GradingError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"已分配 {n} 个任务")


@click.command("grading-status")
@click.argument("session_ref", metavar="SESSION")
def grading_status(session_ref: str) -> None:
    """阅卷进度：各状态任务数，各阅卷员的工作量与评分一致性。"""
    exam_session = find_session(session_ref)
    m = ops.monitor(db.session, exam_session)
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


@click.command("demo-grading")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--candidates", default=4, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="只准备数据，不启动服务")
def demo_grading(host: str, port: int, candidates: int, no_serve: bool) -> None:
    """阅卷演示：清空数据库，建一场保安师（二级）笔试与论文答辩，考生已交卷，任务已分配，并启动服务。"""
    from exam_server.demo import _reset_database
    from exam_server.grading.seed import seed_written_sitting, sit_written
    from exam_server.sessions.models import ExamSession

    started = time.monotonic()
    url = current_app.config["DATABASE_URL"]
    click.echo(f"演示数据库: {url}（将被清空重建）")
    _reset_database(url)
    session = db.session
    seeded = seed_written_sitting(session, n_candidates=candidates, staff_password="demo",
                                  hash_profile=current_app.config.get("PASSWORD_HASH_PROFILE", "default"),
                                  code=f"L2-{utcnow():%Y%m%d}")
    for attempt_id in seeded.attempt_ids:
        sit_written(session, attempt_id)
    exam_session = session.get(ExamSession, seeded.exam_session_id)
    for i, candidate_id in enumerate(seeded.candidate_ids, start=1):
        text = (f"论小区物业保安服务质量的提升（第 {i} 篇）\n\n一、问题的提出\n……\n二、原因分析\n……\n"
                "三、对策\n……\n四、结论\n……").encode()
        ops.submit_thesis(session, exam_session, candidate_id, f"论小区物业保安服务质量的提升（{i}）",
                          ("thesis.txt", "text/plain", text), "system:demo")
    staff = seeded.staff
    panel = ops.create_panel(session, exam_session, "答辩第1组",
                             [staff["chief"], staff["examiner1"], staff["examiner2"]], staff["chief"], "system:demo")
    ops.assign_panel(session, panel, [t.code for t in ops.defence_tasks(session, exam_session)], "system:demo")
    ops.assign_tasks(session, exam_session, [staff["grader1"], staff["grader2"]], "system:demo")
    click.echo(f"考试场次 {exam_session.code}：{candidates} 名考生已交卷，论文与答辩任务已生成并分配。"
               f"准备用时 {time.monotonic() - started:.1f} 秒。")
    click.echo(f"工作人员登录 http://{host}:{port}/staff/login  （密码均为 demo）")
    click.echo("  grader1 / grader2 阅卷员；chief 阅卷组长兼答辩组长；examiner1 / examiner2 答辩评委；staff 鉴定中心")
    if no_serve:
        return
    from exam_server.core.cli import serve

    serve(host, port)


commands = [assign_grading, grading_status, demo_grading]

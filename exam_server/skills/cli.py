"""`examctl skill-stations`, `create-skill-sitting`, `skill-setup`, `import-skill-scores`, `skill-scores`: the
practical-skill assessment from a shell. Lists print the code first on each line; a refusal exits with its Chinese
reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from sqlalchemy import select

from exam_server.core.cli import command_actor, refusals_as_click_errors, user_by_name
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.extensions import db
from exam_server.organisations.scope import scope_for
from exam_server.sessions.cli import sitting_by_ref
from exam_server.sessions.models import Ticket
from exam_server.skills import queries
from exam_server.skills.errors import SkillFileError
from exam_server.skills.imports import import_scores
from exam_server.skills.operations import add_candidates, create_skill_sitting, mark_absent, set_up_sitting
from exam_server.skills.sheets import STATIONS_FILE, ensure_skill_trees, import_stations
from item_bank.db import transaction
from item_bank.kernel import cli_actor


def _refused_file(exc: SkillFileError) -> click.ClickException:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    return click.ClickException(exc.message)


@click.command("skill-stations")
@click.option("--level", type=click.IntRange(3, 5), default=None, help="只列出该等级")
@click.option("--import", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="先导入考站文件（JSON，格式同随系统提供的 skills/stations.json）")
@click.option("--shipped", is_flag=True, help="先导入随系统提供的五级至三级考站（及所需的操作技能知识树）")
def skill_stations(level: int | None, path: Path | None, shipped: bool) -> None:
    """列出操作技能考站（考站编号在前）：等级、名称、权重、满分、两评允许差值、版本；可先导入考站文件（全部或不导入）。"""
    actor = command_actor()
    if path or shipped:
        try:
            with transaction(db.session):
                if shipped:
                    ensure_skill_trees(db.session, actor)
                report = import_stations(db.session, path or STATIONS_FILE, actor)
        except SkillFileError as exc:
            raise _refused_file(exc) from exc
        for line in report.lines():
            click.echo(line, err=True)
    for s in queries.current_stations(db.session, level):
        click.echo(f"{s.code}\t{s.level}级\t{s.title}\t权重 {s.weight:g}\t满分 {s.max_points:g}\t"
                   f"允许差 {s.tolerance:g}\t第 {s.version} 版\t{s.area.code} {s.area.name}")


@click.command("create-skill-sitting")
@click.option("--code", required=True, help="场次编号")
@click.option("--name", default=None, help="场次名称")
@click.option("--level", type=click.IntRange(3, 5), required=True, help="等级 5..3")
@click.option("--date", "day", required=True, help="考核日期 YYYY-MM-DD（北京时间）")
@click.option("--start", default="09:00", show_default=True, help="开始时间 HH:MM")
@click.option("--hours", default=4.0, show_default=True, type=float, help="考核时长（小时）")
@click.option("--candidates-from", "source", default=None, help="把该场次（如同等级理论知识场次）的考生编入")
@refusals_as_click_errors
def create_skill_sitting_command(code: str, name: str | None, level: int, day: str, start: str, hours: float,
                                 source: str | None) -> None:
    """新建操作技能考站实操场次（五级至三级），可从另一场次编入考生；打印场次编号。"""
    try:
        moment = dt.datetime.strptime(f"{day} {start}", "%Y-%m-%d %H:%M").replace(tzinfo=DISPLAY_ZONE)
    except ValueError:
        raise click.ClickException(f"日期或时间格式不对：{day} {start}（应为 2026-12-20 和 09:00）") from None
    centre_id = sitting_by_ref(source).centre_id if source else None
    actor = command_actor()
    with transaction(db.session):
        sitting = create_skill_sitting(db.session, code=code, name=name or f"{day} {level}级操作技能（考站实操）",
                                       level=level, starts_at=moment.astimezone(dt.UTC),
                                       duration_s=int(hours * 3600), centre_id=centre_id, actor=actor)
        if source:
            ids = list(db.session.scalars(select(Ticket.candidate_id).where(
                Ticket.session_id == sitting_by_ref(source).id, Ticket.status == "active")))
            add_candidates(db.session, sitting, ids, actor)
    click.echo(sitting.code)


@click.command("skill-setup")
@click.argument("sitting_code")
@click.option("--station", "stations", multiple=True, required=True,
              help="考站编号=考评员1,考评员2（账号），可重复，按考生轮转顺序")
@click.option("--chief", required=True, help="主考账号（阅卷组长）")
@refusals_as_click_errors
def skill_setup(sitting_code: str, stations: tuple[str, ...], chief: str) -> None:
    """为操作技能场次安排考站、每站两名考评员和主考（开始评分前可重新安排）；每行打印一个考站编号及其考评员。"""
    plan = []
    for spec in stations:
        code, _, people = spec.partition("=")
        names = [p.strip() for p in people.replace("，", ",").split(",") if p.strip()]
        plan.append((code.strip(), [user_by_name(n) for n in names]))
    set_up_sitting(db.session, sitting_by_ref(sitting_code), plan, user_by_name(chief), command_actor())
    for code, people in plan:
        click.echo(f"{code}\t{','.join(u.username for u in people)}")


@click.command("import-skill-scores")
@click.argument("sitting_code")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", default=None, help="以哪个鉴定中心账号导入（按其所属机构判断权限）")
@refusals_as_click_errors
def import_skill_scores(sitting_code: str, path: Path, username: str | None) -> None:
    """导入操作技能评分（Excel）：每行一名考评员对一名考生在一个考站的评分；有任何错误则全部不导入并列出行和列。
    每行打印一条导入的评分：准考证号、考站、考评员、总分。"""
    sitting = sitting_by_ref(sitting_code)
    actor = command_actor()
    if username:
        user = user_by_name(username)
        if not user.active or not user.has_role("centre_staff"):
            raise click.ClickException(f"账号 {username} 已停用或不是鉴定中心人员")
        scope = scope_for(user, db.session)
        scope.check_centre(sitting.centre_id, "考试场次")
        scope.check_write()
        actor = cli_actor(username)
    try:
        report = import_scores(db.session, sitting, path, path.name, actor)
    except SkillFileError as exc:
        raise _refused_file(exc) from exc
    for ticket, station, examiner, total in report.rows:
        click.echo(f"{ticket}\t{station}\t{examiner}\t{total:g}")
    for line in report.lines():
        click.echo(line, err=True)


@click.command("skill-absent")
@click.argument("sitting_code")
@click.argument("ticket_number")
@click.option("--reason", required=True, help="原因")
@refusals_as_click_errors
def skill_absent(sitting_code: str, ticket_number: str, reason: str) -> None:
    """把未到场的考生记为缺考（尚无任何评分时）：不产生操作技能成绩，发布成绩不再等待该考生。"""
    sitting = sitting_by_ref(sitting_code)
    ticket = db.session.scalar(select(Ticket).where(Ticket.session_id == sitting.id, Ticket.number == ticket_number))
    if ticket is None:
        raise click.ClickException(f"准考证号 {ticket_number} 不属于场次 {sitting_code}")
    mark_absent(db.session, sitting.id, ticket.candidate_id, reason, command_actor())
    click.echo(f"{ticket_number}\t缺考\t{ticket.candidate.name}")


@click.command("skill-scores")
@click.argument("sitting_code")
def skill_scores(sitting_code: str) -> None:
    """列出操作技能场次每名考生在每个考站的成绩（准考证号在前）：考站、考评员总分、考站成绩、状态。"""
    for line in queries.station_scores(db.session, sitting_by_ref(sitting_code).id):
        marks = "/".join(f"{m.total:g}" for m in line.marks)
        score = "" if line.score is None else f"{line.score:g}"
        click.echo(f"{line.ticket}\t{line.station.code}\t{marks}\t{score}\t{line.status_label}\t{line.name}")


commands = [skill_stations, create_skill_sitting_command, skill_setup, import_skill_scores, skill_absent, skill_scores]

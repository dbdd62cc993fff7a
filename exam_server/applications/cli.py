"""Applications from a shell: open a level, the template, a unit's import, listing and review.

A command acting for a unit or a centre names the staff account it runs as (`--as USER`): it sees and acts with
that account's scope (organisations/scope.py), so a unit's account cannot import into or review another unit's.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click
from sqlalchemy import select

from exam_server.applications import operations as ops
from exam_server.applications.excel import read_workbook, write_template
from exam_server.applications.intake import local_today, parse_date
from exam_server.applications.levels import PART_LABELS, PARTS, level_name, parse_level
from exam_server.applications.models import Application, ApplicationWindow
from exam_server.applications.photos import read_photo_archive
from exam_server.applications.queries import list_applications
from exam_server.applications.review import CENTRE_STAGE, STATUS_LABELS, UNIT_STAGE
from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.organisations.models import PilotUnit
from exam_server.organisations.scope import Scope, scope_for
from item_bank.kernel import cli_actor


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _as_user(username: str) -> tuple[User, Scope, str]:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"没有在用的账号 {username}")
    return user, scope_for(user, db.session), cli_actor(username)


def _unit(code: str) -> PilotUnit:
    unit = db.session.scalar(select(PilotUnit).where((PilotUnit.code == code) | (PilotUnit.name == code)))
    if unit is None:
        raise click.ClickException(f"没有试点单位 {code}")
    return unit


@click.command("open-applications")
@click.argument("level")
@click.option("--until", "until", required=True, help="申报截止日期（含当天），如 2026-12-31")
@click.option("--from", "from_", default=None, help="申报开始日期（含当天），默认今天")
@click.option("--part", type=click.Choice(PARTS), default=None, help="只开放一个科目；默认理论知识和操作技能都开放")
@click.option("--exam-date", default=None, help="计划考试日期（判断理论免试），默认截止日期")
@click.option("--change", is_flag=True,
              help="修改与新时间重叠的已有申报时间（如延长截止日期），而不是另开一段")
@refusals_as_click_errors
def open_applications(level: str, until: str, from_: str | None, part: str | None, exam_date: str | None,
                      change: bool) -> None:
    """开放申报：等级 LEVEL（5 / 五级 / 初级保安员 …）在 --from 至 --until 期间接受申请。"""
    lvl = parse_level(level)
    closes_on = _date(until, "--until")
    opens_on = _date(from_, "--from") or local_today()
    exam_on = _date(exam_date, "--exam-date")
    assert closes_on is not None
    for each in ([part] if part else list(PARTS)):
        # The province extends or moves a window it opened (the screen's 修改) rather than opening a second one.
        existing = _overlapping_window(lvl, each, opens_on, closes_on) if change else None
        try:
            if existing is not None:
                window = ops.change_window(db.session, existing, opens_on=opens_on, closes_on=closes_on,
                                           exam_on=exam_on, actor=command_actor())
            else:
                window = ops.open_window(db.session, level=lvl, part=each, opens_on=opens_on, closes_on=closes_on,
                                         exam_on=exam_on, actor=command_actor())
        except ops.ApplicationError as exc:
            if exc.code == "window_overlap":
                raise click.ClickException(f"{exc.message}；要修改已有的申报时间，请加 --change") from None
            raise
        click.echo(f"{window.id}\t{level_name(lvl)}\t{PART_LABELS[each]}\t{window.opens_on} 至 {window.closes_on}")


def _overlapping_window(level: int, part: str, opens_on: dt.date, closes_on: dt.date) -> ApplicationWindow | None:
    for window in ops.windows(db.session):
        if window.level == level and window.part == part and window.opens_on <= closes_on \
                and opens_on <= window.closes_on:
            return window
    return None


@click.command("application-template")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def application_template(output: Path) -> None:
    """写出申请导入模板（Excel）到 OUTPUT。"""
    write_template(output)
    click.echo(f"已写入申请模板：{output}")


@click.command("import-applications")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unit", "unit_code", required=True, help="申请所属的试点单位（编号或名称）")
@click.option("--as", "username", required=True, help="以哪个账号导入（按其所属机构判断权限）")
@refusals_as_click_errors
def import_applications(file: Path, unit_code: str, username: str) -> None:
    """导入申请：把 FILE.xlsx 中的学员作为试点单位的申请导入；有任何问题则全部不导入并列出每一处。"""
    _, scope, actor = _as_user(username)
    unit = _unit(unit_code)
    scope.check_unit(unit.id, "试点单位")
    started = time.perf_counter()
    sheet = read_workbook(file)
    problems = sheet.problems
    result = None
    if not problems:
        try:
            result = ops.import_rows(db.session, unit, sheet.rows, actor=actor, scope=scope, file=file.name)
        except ops.ApplicationError as exc:
            problems = exc.problems or [ops.Problem(None, "-", exc.message)]
    if problems or result is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"{file.name} 有 {len(problems)} 处问题，未导入任何申请")
    click.echo(f"已导入 {result.created} 份申请（{unit.name}，其中 {result.exempt} 人免考理论知识），"
               f"用时 {time.perf_counter() - started:.1f} 秒")


@click.command("import-photos")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unit", "unit_code", required=True, help="申请所属的试点单位（编号或名称）")
@click.option("--as", "username", required=True, help="以哪个账号导入（按其所属机构判断权限）")
@refusals_as_click_errors
def import_photos(file: Path, unit_code: str, username: str) -> None:
    """导入证件照：FILE.zip 中每张照片以身份证号命名（如 440106199001010136.jpg），对应试点单位的申请；全部无误才保存。"""
    _, scope, actor = _as_user(username)
    unit = _unit(unit_code)
    scope.check_unit(unit.id, "试点单位")
    try:
        stored = ops.import_photos(db.session, unit, read_photo_archive(file), actor=actor, scope=scope,
                                   file=file.name)
    except ops.ApplicationError as exc:
        for problem in exc.problems:
            click.echo(f"{problem.column}：{problem.message}", err=True)
        raise click.ClickException(exc.message.split("：")[0]) from exc
    click.echo(f"已保存 {stored} 张证件照（{unit.name}）")


@click.command("list-applications")
@click.option("--as", "username", required=True, help="以哪个账号查看（只列出其机构的申请）")
@click.option("--status", type=click.Choice(sorted(STATUS_LABELS)), default=None)
@click.option("--level", default=None)
@refusals_as_click_errors
def list_applications_command(username: str, status: str | None, level: str | None) -> None:
    """列出申请，每行一份：编号、状态、等级、姓名、身份证号、试点单位。"""
    _, scope, _ = _as_user(username)
    page, total = 1, None
    while True:
        rows, total = list_applications(db.session, scope, status=status,
                                        level=parse_level(level) if level else None, page=page)
        for a in rows:
            click.echo(f"{a.id}\t{a.status}\t{a.level}\t{a.name}\t{a.id_number}\t{a.unit.code}")
        if page * 100 >= total:
            break
        page += 1


@click.command("review-applications")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--as", "username", required=True, help="审核人账号（试点单位做初审，鉴定中心做复审）")
@click.option("--stage", type=click.Choice([UNIT_STAGE, CENTRE_STAGE]), required=True, help="unit 初审 / centre 复审")
@click.option("--approve/--reject", default=True)
@click.option("--reason", default="", help="不通过的原因（考生和单位会看到）")
@refusals_as_click_errors
def review_applications(ids: tuple[int, ...], username: str, stage: str, approve: bool, reason: str) -> None:
    """审核申请 IDS：--stage unit 初审（试点单位）或 centre 复审（鉴定中心），--approve 通过或 --reject 不通过。"""
    user, scope, actor = _as_user(username)
    roles = ("pilot_unit",) if stage == UNIT_STAGE else ("centre_staff", "province")
    if not user.has_role(*roles):
        raise click.ClickException(f"账号 {username} 不能做{'初审' if stage == UNIT_STAGE else '复审'}")
    missing = [i for i in ids if db.session.get(Application, i) is None]
    if missing:
        raise click.ClickException("没有申请 " + ", ".join(map(str, missing)))
    summary = ops.review_batch(db.session, list(ids), stage=stage, approve=approve, reason=reason, actor=actor,
                               scope=scope)
    click.echo(summary.words(stage, approve))
    if summary.refused:
        raise SystemExit(1)


commands = [open_applications, application_template, import_applications, import_photos,
            list_applications_command, review_applications]

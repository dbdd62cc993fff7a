"""`examctl report`, `export-centre-report`, `centre-public-key`, `register-centre-key`, `import-centre-report`,
`province-summary`: the reports from a shell (the operator running examctl sees the whole province, as the
server does). A refusal exits non-zero with its Chinese reason, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.extensions import db
from exam_server.organisations.models import Centre
from exam_server.organisations.scope import EVERYTHING
from exam_server.reports import figures as F
from exam_server.reports import operations, signing
from exam_server.reports.jobs import build_province_workbook, build_workbook, files_table
from exam_server.reports.tables import PERCENT, SCORE, breakdowns


def _keys() -> Path:
    return signing.keys_dir(current_app.config, current_app.instance_path)


def _centre(code: str | None) -> Centre:
    """The centre named, or the only one there is."""
    if code:
        return operations.centre_by_code(db.session, code)
    centres = list(db.session.scalars(select(Centre).order_by(Centre.code).limit(2)))
    if len(centres) != 1:
        raise click.ClickException("本系统有多个（或没有）鉴定中心，请用 --centre 指定鉴定中心代码。")
    return centres[0]


def _write(path: str, data: bytes) -> None:
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise click.ClickException(f"目录 {target.parent} 不存在。")
    target.write_bytes(data)


@click.command("report")
@click.option("--from", "start", required=True, help="起始日期，如 2026-01-01（含）")
@click.option("--to", "end", required=True, help="截止日期，如 2026-12-31（含）")
@click.option("--level", type=int, default=None, help="只统计该等级（5 初级 … 1 高级保安师）")
@click.option("--centre", "centre_code", default=None, help="只统计该鉴定中心（代码）；不填为全省")
@click.option("--holders/--no-holders", default=True, help="是否含持证人员名册（默认含）")
@click.option("-o", "--output", required=True, help="输出的 Excel 文件（.xlsx）")
@refusals_as_click_errors
def report_command(start: str, end: str, level: int | None, centre_code: str | None, holders: bool,
                   output: str) -> None:
    """统计报表：按等级、科目、场次、考点、试点单位和城市统计申请、参考、缺考和合格率，写成 Excel 工作簿。"""
    period = F.Period.parse(start, end)
    F.check_level(level)
    scope = F.centre_scope(db.session, _centre(centre_code)) if centre_code else EVERYTHING
    _write(output, build_workbook(db.session, scope, period, level, holders))
    click.echo(f"已写出 {output}（{scope.label}，{period.start} 至 {period.end}）。")


@click.command("export-centre-report")
@click.option("--from", "start", required=True, help="起始日期（含）")
@click.option("--to", "end", required=True, help="截止日期（含）")
@click.option("--centre", "centre_code", default=None, help="鉴定中心代码（只有一个中心时可不填）")
@click.option("-o", "--output", required=True, help="输出的签名报送文件（.json）")
@refusals_as_click_errors
def export_centre_report(start: str, end: str, centre_code: str | None, output: str) -> None:
    """生成本鉴定中心某一区间的签名报送文件（上报省级汇总）；首次使用时生成本中心的签名密钥。"""
    centre = _centre(centre_code)
    period = F.Period.parse(start, end)
    _write(output, operations.centre_file(db.session, centre, period, _keys()))
    click.echo(f"已写出 {output}（{centre.name}，{period.start} 至 {period.end}）。")


@click.command("centre-public-key")
@click.option("--centre", "centre_code", default=None, help="鉴定中心代码（只有一个中心时可不填）")
@refusals_as_click_errors
def centre_public_key(centre_code: str | None) -> None:
    """打印本鉴定中心的报送公钥（交省级登记）；首次使用时生成密钥。"""
    centre = _centre(centre_code)
    public = signing.public_text(signing.centre_key(_keys(), centre.code))
    click.echo(public)
    click.echo(f"{centre.name}（{centre.code}）公钥指纹 {signing.parse_public(public)[1]}", err=True)


@click.command("register-centre-key")
@click.argument("centre_code")
@click.argument("public_key")
@refusals_as_click_errors
def register_centre_key(centre_code: str, public_key: str) -> None:
    """省级登记鉴定中心的报送公钥（CENTRE_CODE 中心代码，PUBLIC_KEY 该中心 centre-public-key 打印的公钥）。"""
    centre = operations.centre_by_code(db.session, centre_code)
    key = operations.register_key(db.session, centre, public_key, command_actor())
    click.echo(f"已登记 {centre.name}（{centre.code}）的报送公钥，指纹 {key.fingerprint}。")


@click.command("import-centre-report")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@refusals_as_click_errors
def import_centre_report(path: str) -> None:
    """省级导入鉴定中心的签名报送文件：校验签名后计入全省汇总；同一文件重复导入不做任何更改。"""
    envelope = signing.read_file(Path(path))
    click.echo(operations.import_file(db.session, envelope, command_actor(), Path(path).name).message())


def _plain(value: object, kind: str) -> str:
    if value is None:
        return "—"
    if kind == PERCENT:
        return f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]
    if kind == SCORE:
        return f"{float(value):.1f}"  # type: ignore[arg-type]
    return str(value)


@click.command("province-summary")
@click.option("--from", "start", default=None, help="只汇总统计区间在此日期及之后的文件")
@click.option("--to", "end", default=None, help="只汇总统计区间在此日期及之前的文件")
@click.option("-o", "--output", default=None, help="另写出 Excel 工作簿（.xlsx）")
@refusals_as_click_errors
def province_summary(start: str | None, end: str | None, output: str | None) -> None:
    """全省汇总：各鉴定中心已导入报送文件之和，按等级打印申请、参考、缺考和合格率（可另存为 Excel）。"""
    period = F.Period.parse(start, end) if start or end else None
    summary, rows = operations.province_summary(db.session, period.start if period else None,
                                                period.end if period else None)
    if not rows:
        click.echo("尚未导入任何鉴定中心的报送文件（examctl import-centre-report 文件）。")
    for line in files_table(rows).rows:
        click.echo(f"报送文件\t{line[1]}\t{line[0]}\t{line[2]} 至 {line[3]}")
    for table in breakdowns(summary):
        if table.name not in ("申请-按等级", "考试-按等级", "等级-按等级"):
            continue
        click.echo(f"\n{table.title}")
        click.echo("\t".join(table.headers))
        for row in table.rows:
            click.echo("\t".join(_plain(v, k) for v, k in zip(row, table.kinds, strict=True)))
    if output:
        _write(output, build_province_workbook(db.session, start, end))
        click.echo(f"\n已写出 {output}。")


commands = [report_command, export_centre_report, centre_public_key, register_centre_key, import_centre_report,
            province_summary]

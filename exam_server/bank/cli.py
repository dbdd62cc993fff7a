"""`examctl import-items` / `export-items`: move items between the bank and files."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from exam_server.bank.operations import run_import
from exam_server.core.models import User
from exam_server.extensions import db
from item_bank.exporting import ExportError, export_items, write_template
from item_bank.importing import IMPORT_STATUSES, BankImportError
from item_bank.kernel import DomainError
from item_bank.kernel.actors import shell_actor
from item_bank.models import IN_REVIEW
from item_bank.review import Reviewer


@click.command("import-items")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="只检查并报告，不保存（预检）")
@click.option(
    "--as",
    "as_user",
    metavar="USERNAME",
    default=None,
    help="导入人：命题人或题库管理员的账号，记为试题作者（预检以外必填）；审核通过须由另一位审题人在审核页完成",
)
@click.option(
    "--status",
    type=click.Choice(IMPORT_STATUSES),
    default=IN_REVIEW,
    show_default=True,
    help="导入后试题版本的状态：in_review 待审核（可由审题人整批审核通过）或 draft 草稿；导入从不直接“已通过”",
)
@click.option(
    "--level", "levels", type=click.IntRange(1, 5), multiple=True, help="文件未写等级时使用的等级（默认 5）"
)
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def import_items_command(
    path: Path, dry_run: bool, as_user: str | None, status: str, levels: tuple[int, ...], actor: str | None
) -> None:
    """导入试题：按扩展名识别格式（.xlsx .csv .json .zip=QTI）；有任何错误则全部不保存。

    导入的试题进入“待审核”（或草稿），作者记为 --as 的账号；另一位审题人在 /bank/review 整批或逐题审核通过。"""
    try:
        report = run_import(
            db.session,
            path,
            _importer(as_user, shell_actor(actor), dry_run),
            status=status,
            dry_run=dry_run,
            default_levels=list(levels) or None,
        )
    except BankImportError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"导入失败：{len(exc.problems)} 处问题，未保存任何试题。", err=True)
        sys.exit(1)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    for warning in report.warnings:
        click.echo(f"提示 {warning}")
    for dup in report.duplicates:
        click.echo(f"疑似重复 {dup}")
    click.echo(report.summary())
    if report.batch_id is not None:
        click.echo(f"导入批次 {report.batch_id} 待审核：请另一位审题人在“审核”页整批或逐题审核通过。")


def _importer(username: str | None, actor: str, dry_run: bool) -> Reviewer:
    """Who imports: the staff account named by --as (recorded as the versions' author), acting through the
    shell's actor. A dry run stores nothing, so it may go without one."""
    if username is None:
        if dry_run:
            return Reviewer(actor, None, frozenset({"author"}))
        raise click.UsageError("请用 --as 指定导入人（命题人或题库管理员的账号），导入的试题将记为其编写")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"账号 {username} 不存在或已停用")
    return Reviewer(actor, user.id, frozenset(user.roles or []))


@click.command("export-items")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--include-retired", is_flag=True, help="同时导出已停用试题的最后版本")
def export_items_command(path: Path, include_retired: bool) -> None:
    """导出试题（每道题的当前版本）：按扩展名选择格式（.xlsx .csv .json .zip=QTI 2.1）。"""
    try:
        report = export_items(db.session, path, include_retired=include_retired)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())


@click.command("item-template")
@click.argument("path", type=click.Path(path_type=Path), default="试题导入模板.xlsx")
def item_template_command(path: Path) -> None:
    """生成空白的 Excel 导入模板（含填写说明和下拉选项；题库还没有知识树时先建立标准知识树）。"""
    write_template(db.session, path)
    click.echo(f"已生成导入模板 {path}")


commands: list[click.Command] = [import_items_command, export_items_command, item_template_command]

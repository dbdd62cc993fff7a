"""`examctl import-items` / `export-items`: move items between the bank and files; `examctl tree import|export`:
whole knowledge trees as files; `examctl attribute define|list`: the bank's named item attributes."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from sqlalchemy import select

from exam_server.bank.jobs import EXPORT_FORMATS, package_export, write_export_table
from exam_server.bank.operations import run_import
from exam_server.core.cli_help import ExamctlError
from exam_server.core.models import User
from exam_server.extensions import db
from item_bank.attributes import COGNITIVE_LEVELS, ENUM, KIND_LABELS, NUMBER, define_attribute, definitions
from item_bank.exporting import ExportError, write_template
from item_bank.importing import IMPORT_STATUSES, BankImportError
from item_bank.kernel import DomainError, transaction
from item_bank.kernel.actors import shell_actor
from item_bank.models import IN_REVIEW
from item_bank.review import Reviewer
from item_bank.standard_tree import ensure_standard_tree
from item_bank.tree_exchange import STANDARD_TREES, TreeImportError, export_tree, import_tree


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
@click.option("--no-images", is_flag=True, help="表格格式只写表格，不附图片文件")
def export_items_command(path: Path, include_retired: bool, no_images: bool) -> None:
    """导出试题（每道题的当前版本）：按扩展名选择格式（.xlsx .csv .json .zip=QTI 2.1）；有图片的 Excel/CSV
    导出为一个压缩包（表格和图片文件夹，<文件名>_<格式>.zip），与网页导出相同。"""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise click.ClickException(f"不支持的导出格式 {path.suffix or '(无扩展名)'}：应为 .xlsx .csv .json 或 .zip (QTI)")
    folder = path.parent.resolve()
    if not folder.is_dir():
        raise click.ClickException(f"目录 {folder} 不存在")
    # The table and its images are written in a scratch folder of their own, away from the destination, and
    # only the one file handed over lands there (an archive written inside the folder it archives once filled a disk).
    with tempfile.TemporaryDirectory(prefix="examctl-export-") as scratch_dir:
        scratch = Path(scratch_dir)
        try:
            report, table = write_export_table(db.session, scratch / path.name, include_retired=include_retired)
            db.session.commit()
            output, kind = package_export(scratch, table, fmt, not no_images, lambda name: folder / name)
        except ExportError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(report.summary())
    click.echo(f"已写入 {output}（{kind}）")


@click.command("item-template")
@click.argument("path", type=click.Path(path_type=Path), default="试题导入模板.xlsx")
def item_template_command(path: Path) -> None:
    """生成空白的 Excel 导入模板（含填写说明和下拉选项；题库还没有知识树时先建立标准知识树）。"""
    write_template(db.session, path)
    click.echo(f"已生成导入模板 {path}")


@click.group("tree")
def tree_group() -> None:
    """知识树（鉴定要素）：整棵导入、导出（Excel 或 JSON），或建立随系统提供的各等级知识树。"""


@tree_group.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--level", type=click.IntRange(1, 5), default=None, help="只导出该等级（默认全部）")
@click.option("--part", type=click.Choice(["theory", "skill"]), default=None, help="只导出该科目（默认全部）")
def tree_export_command(path: Path, level: int | None, part: str | None) -> None:
    """导出知识树到 PATH（.xlsx 或 .json）：代码、名称、类别、上级代码与比重。"""
    try:
        count = export_tree(db.session, path, level=level, part=part)
    except TreeImportError as exc:
        raise ExamctlError(exc.message) from None
    click.echo(f"已导出 {count} 个知识点到 {path}")


@tree_group.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查并报告，不保存（预检）")
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def tree_import_command(path: Path, dry_run: bool, actor: str | None) -> None:
    """导入知识树（.xlsx 或 .json）：已有代码的知识点更新，新的代码新建；有任何错误则全部不保存。"""
    _import_tree_file(path, dry_run, shell_actor(actor))


@tree_group.command("standard")
@click.option("--dry-run", is_flag=True, help="只检查并报告，不保存（预检）")
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def tree_standard_command(dry_run: bool, actor: str | None) -> None:
    """建立随系统提供的知识树：五级理论知识（现行），以及按国家职业技能标准结构编写的其余等级和操作技能示例树
    （示例须由题库管理员按标准原文核对修改）。"""
    _import_tree_file(STANDARD_TREES, dry_run, shell_actor(actor), level5=True)


def _import_tree_file(path: Path, dry_run: bool, actor: str, *, level5: bool = False) -> None:
    try:
        with transaction(db.session, dry_run=dry_run):
            if level5:
                created = ensure_standard_tree(db.session, actor)
                click.echo(
                    f"五级理论知识：{'新建 ' + str(created) + ' 个知识点和比重表' if created else '已有知识树，未改动'}"
                )
            report = import_tree(db.session, path, actor=actor, dry_run=dry_run)
    except TreeImportError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise ExamctlError(f"{len(exc.problems)} 处问题，未保存任何知识点") from None
    except DomainError as exc:
        raise ExamctlError(exc.message) from None
    click.echo(report.summary())


@click.group("attribute")
def attribute_group() -> None:
    """试题属性：题库自定义的属性（枚举或数值），如 题型形式、知识深度、情景；认知层次是每道题自带的属性。"""


@attribute_group.command("define")
@click.argument("name")
@click.option("--label", default="", help="显示名称，如 知识深度（默认同 NAME）")
@click.option("--number", "is_number", is_flag=True, help="数值属性（默认为枚举属性）")
@click.option("--value", "values", multiple=True, help="枚举属性的取值，可写多次：--value 日间 --value 夜间")
@click.option("--min", "minimum", type=float, default=None, help="数值属性的下限")
@click.option("--max", "maximum", type=float, default=None, help="数值属性的上限")
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def attribute_define_command(
    name: str, label: str, is_number: bool, values: tuple[str, ...], minimum: float | None,
    maximum: float | None, actor: str | None,
) -> None:  # fmt: skip
    """定义（或修改）属性 NAME；已保存的试题版本不变，因此它们仍在使用的取值不能删除（列出使用它的试题）。"""
    try:
        with transaction(db.session):
            define_attribute(
                db.session, name=name, label=label, kind=NUMBER if is_number else ENUM,
                values={"min": minimum, "max": maximum} if is_number else list(values), actor=shell_actor(actor),
            )  # fmt: skip
    except DomainError as exc:
        raise ExamctlError(exc.message) from None
    click.echo(f"已定义属性 {label or name}")


@attribute_group.command("list")
def attribute_list_command() -> None:
    """列出题库定义的属性及取值。"""
    click.echo(f"认知层次（cognitive_level，每道题自带）：{'、'.join(COGNITIVE_LEVELS)}")
    for spec in definitions(db.session):
        click.echo(f"{spec.title}（{spec.name}，{KIND_LABELS[spec.kind]}）：{spec.allowed()}")


commands: list[click.Command] = [
    import_items_command,
    export_items_command,
    item_template_command,
    tree_group,
    attribute_group,
]

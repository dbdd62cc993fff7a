"""`examctl assemble`, `examctl blueprint ...`, `examctl form ...`: blueprints, assembly and form review.

The commands call the same operations and read models as the screens; `report` prints what they show.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from exam_server.assembly import operations as ops
from exam_server.assembly.plots import review_png
from exam_server.assembly.queries import all_blueprints, form_by_code, forms_of
from exam_server.assembly.report import assembly_lines, report_lines
from exam_server.extensions import db
from item_bank.assembly import AssemblyError
from item_bank.blueprints import BlueprintError, dumps_spec, get_blueprint, load_spec, spec_of
from item_bank.form_review import review_form
from item_bank.forms import STATUS_LABELS, FormStateError
from item_bank.kernel.actors import shell_actor
from item_bank.models import Form

# What a blueprint file did to the stored blueprints, as the operator reads it.
RESOLVED = {ops.CREATED: "已创建蓝图「{}」（编号 {}）", ops.UPDATED: "已按文件更新蓝图「{}」（编号 {}）"}


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


@click.command("assemble")
@click.option("--blueprint", "blueprint_ref", required=True, help="蓝图名称、编号，或 YAML/JSON 蓝图文件")
@click.option(
    "--forms", "n_forms", default=1, show_default=True, type=click.IntRange(1, 50), help="平行卷份数"
)
@click.option("--time-limit", default=60.0, show_default=True, type=float, help="求解时间上限（秒）")
@click.option("--gap", default=0.01, show_default=True, type=float, help="可接受的最优性差距")
@click.option("--seed", default=None, type=int, help="随机种子（默认每次新取一个并打印；用同一种子可重现结果）")
@click.option("--allow-identical", is_flag=True, help="试卷与已有试卷题目完全相同时仍然保存（默认拒绝保存）")
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def assemble_command(
    blueprint_ref: str,
    n_forms: int,
    time_limit: float,
    gap: float,
    seed: int | None,
    allow_identical: bool,
    actor: str | None,
) -> None:
    """按蓝图组卷：用 HiGHS 混合整数规划一次组成 N 份平行卷（状态为“已组卷”）。"""
    actor = shell_actor(actor)
    try:
        bp, resolved = ops.resolve_blueprint(db.session, blueprint_ref, actor)
        if resolved in RESOLVED:
            click.echo(RESOLVED[resolved].format(bp.name, bp.id))
        result = ops.assemble(
            db.session, bp, n_forms, time_limit_s=time_limit, seed=seed, gap=gap, actor=actor,
            allow_identical=allow_identical,
        )
    except (BlueprintError, AssemblyError) as exc:
        _fail(str(exc))
    for line in assembly_lines(result):
        click.echo(line)


@click.group("blueprint")
def blueprint_group() -> None:
    """组卷蓝图（双向细目表）：创建、查看、导出、导入。"""


@blueprint_group.command("create")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="同名蓝图已存在时用文件内容更新它")
@click.option("--actor", default=None)
def blueprint_create(path: Path, replace: bool, actor: str | None) -> None:
    """从 YAML 或 JSON 文件创建蓝图。"""
    try:
        spec = load_spec(path)
        existing = get_blueprint(db.session, spec.name) if replace else None
        bp = ops.save_blueprint(db.session, existing, spec, shell_actor(actor))
    except BlueprintError as exc:
        _fail(str(exc))
    click.echo(f"蓝图「{bp.name}」已保存（编号 {bp.id}，{spec.item_count} 题，{spec.total_points:g} 分）")


@blueprint_group.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def blueprint_show(name: str, fmt: str) -> None:
    """输出蓝图内容（可保存为文件修改后再导入）。"""
    bp = get_blueprint(db.session, name)
    if bp is None:
        _fail(f"没有名为「{name}」的蓝图")
    click.echo(dumps_spec(spec_of(bp), fmt), nl=False)


@blueprint_group.command("export")
@click.argument("name")
@click.option(
    "-o", "--output", "path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="写入文件（.yaml/.yml 或 .json；省略时输出到屏幕）",
)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default=None, help="默认按文件扩展名，屏幕为 yaml")
def blueprint_export(name: str, path: Path | None, fmt: str | None) -> None:
    """导出蓝图为 YAML 或 JSON 文件（可修改后用 import 导入）。"""
    bp = get_blueprint(db.session, name)
    if bp is None:
        _fail(f"没有名为「{name}」的蓝图")
    fmt = fmt or ("json" if path is not None and path.suffix.lower() == ".json" else "yaml")
    text = dumps_spec(spec_of(bp), fmt)
    if path is None:
        click.echo(text, nl=False)
        return
    path.write_text(text, encoding="utf-8")
    click.echo(f"蓝图「{bp.name}」已导出到 {path}")


@blueprint_group.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="同名蓝图已存在时用文件内容更新它")
@click.option("--actor", default=None)
def blueprint_import(path: Path, replace: bool, actor: str | None) -> None:
    """从 YAML 或 JSON 文件导入蓝图（与 create 相同；旧格式的蓝图文件照样可读）。"""
    blueprint_create.callback(path, replace, actor)  # type: ignore[misc]


@blueprint_group.command("list")
def blueprint_list() -> None:
    """列出全部蓝图。"""
    for bp in all_blueprints(db.session):
        spec = spec_of(bp)
        click.echo(
            f"{bp.id:>4}  {bp.name}  {bp.level}级 {spec.part_label()}  {spec.item_count} 题 {spec.total_points:g} 分  "
            f"{bp.duration_s // 60} 分钟"
        )


@click.group("form")
def form_group() -> None:
    """试卷：列表、审核报告、审核通过、锁定、停用。"""


def _get_form(code: str) -> Form:
    form = form_by_code(db.session, code)
    if form is None:
        _fail(f"没有编号为 {code} 的试卷")
    return form


@form_group.command("list")
@click.option("--blueprint", "blueprint_ref", default=None, help="只列出该蓝图的试卷")
def form_list(blueprint_ref: str | None) -> None:
    """列出试卷及其状态。"""
    try:
        forms = forms_of(db.session, blueprint_ref)
    except BlueprintError as exc:
        _fail(str(exc))
    for form in forms:
        click.echo(
            f"{form.code}  {STATUS_LABELS.get(form.status, form.status)}  批次 {form.assembly_group}  {len(form.items)} 题"
        )


def _transition(code: str, action: str, actor: str | None, reason: str) -> None:
    form = _get_form(code)
    try:
        ops.form_action(db.session, form, action, shell_actor(actor), reason)
    except FormStateError as exc:
        _fail(str(exc))
    click.echo(f"试卷 {form.code} 现为「{STATUS_LABELS[form.status]}」")


@form_group.command("report")
@click.argument("code")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="另存信息函数与难度图（PNG）",
)
def form_report(code: str, plot_path: Path | None) -> None:
    """试卷审核报告：知识点×题型构成、难度、信息量、平行卷重复、互斥检查。"""
    form = _get_form(code)
    review = review_form(db.session, form)
    for line in report_lines(review):
        click.echo(line)
    if plot_path is not None:
        plot_path.write_bytes(review_png(review))
        click.echo(f"图已保存到 {plot_path}")


@form_group.command("approve")
@click.argument("code")
@click.option("--reason", default="", help="审核意见")
@click.option("--actor", default=None)
def form_approve(code: str, reason: str, actor: str | None) -> None:
    """审核通过一份已组卷的试卷。"""
    _transition(code, "approve", actor, reason)


@form_group.command("lock")
@click.argument("code")
@click.option("--reason", default="")
@click.option("--actor", default=None)
@click.option("--yes", is_flag=True, help="不再询问确认")
def form_lock(code: str, reason: str, actor: str | None, yes: bool) -> None:
    """锁定试卷：冻结题目版本、答案、分值和顺序规则（须已由另一人审核通过）。"""
    if not yes and not click.confirm(f"锁定后试卷 {code} 的题目、答案和分值不能再改，确认锁定？"):
        _fail("未锁定")
    _transition(code, "lock", actor, reason)


@form_group.command("retire")
@click.argument("code")
@click.option("--reason", required=True)
@click.option("--actor", default=None)
def form_retire(code: str, reason: str, actor: str | None) -> None:
    """停用试卷。"""
    _transition(code, "retire", actor, reason)


commands: list[click.Command] = [assemble_command, blueprint_group, form_group]

"""`examctl assemble`, `examctl blueprint ...`, `examctl form ...`: blueprints, assembly and form review."""

from __future__ import annotations

import getpass
import sys
import unicodedata
from pathlib import Path

import click
from sqlalchemy import select

from exam_server.extensions import db
from item_bank.assembly import AssemblyError, AssemblyResult, assemble_forms
from item_bank.blueprints import (
    BlueprintError,
    create_blueprint,
    dumps_spec,
    get_blueprint,
    load_spec,
    spec_of,
    update_blueprint,
)
from item_bank.forms import (
    STATUS_LABELS,
    FormReview,
    FormStateError,
    approve_form,
    lock_form,
    retire_form,
    review_form,
)
from item_bank.models import Blueprint, Form

FILE_SUFFIXES = (".yaml", ".yml", ".json")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli:unknown"


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def resolve_blueprint(name_or_file: str, actor: str) -> Blueprint:
    """A stored blueprint by name or id, or one created / updated from a YAML or JSON file."""
    session = db.session
    path = Path(name_or_file)
    if path.suffix.lower() in FILE_SUFFIXES or path.is_file():
        spec = load_spec(path)
        existing = get_blueprint(session, spec.name)
        if existing is None:
            bp = create_blueprint(session, spec, actor)
            click.echo(f"已创建蓝图「{bp.name}」（编号 {bp.id}）")
        elif spec_of(existing).to_dict() != spec.to_dict():
            bp = update_blueprint(session, existing, spec, actor)
            click.echo(f"已按文件更新蓝图「{bp.name}」（编号 {bp.id}）")
        else:
            bp = existing
        session.commit()
        return bp
    bp = get_blueprint(session, name_or_file)
    if bp is None:
        raise BlueprintError(f"没有名为「{name_or_file}」的蓝图，也不是 .yaml/.json 文件")
    return bp


def print_assembly(result: AssemblyResult) -> None:
    """The short summary staff read after assembling."""
    rep = result.report
    sol = rep["solver"]
    measured = rep["measured"]
    gap = "-" if sol["gap"] is None else f"{sol['gap']:.2%}"
    click.echo(
        f"求解器 {sol['name']}：{'最优' if sol['status'] == 'optimal' else '可行（达到时间限制）'}，"
        f"最优性差距 {gap}（要求 ≤ {sol['gap_limit']:.0%}），目标值 {sol['objective']:.4f}，"
        f"用时 {rep['seconds']['total']:.2f} 秒（限 {rep['time_limit_s']:.0f} 秒），模型 {sol['model']['integer_columns']} 个 0-1 变量"
    )
    for form, m in zip(result.forms, [f for f in _forms_measured(result)], strict=True):
        mean_p = "-" if m["mean_p"] is None else f"{m['mean_p']:.3f}"
        click.echo(
            f"  {form.code}: {m['n_items']} 题 {m['points']:g} 分，知识点比重最大偏差 {m['max_area_deviation']:.1%}，"
            f"平均难度 {mean_p}，违反约束 {len(m['violations'])} 项"
        )
    if sol["status"] != "optimal":
        click.echo(
            "  提示：在时间上限内未能证明最优；以上试卷满足蓝图的全部硬性要求，延长 --time-limit 可缩小差距。"
        )
    if len(result.forms) > 1:
        click.echo(
            f"  平行卷两两最多重复 {measured['max_overlap']} 道（上限 {measured['overlap_limit']} 道）"
        )
    click.echo(f"组卷批次 {result.group}；用 `examctl form report <试卷编号>` 查看详情。")


def _forms_measured(result: AssemblyResult) -> list[dict]:
    return [f.assembly_report["form"] for f in result.forms]


@click.command("assemble")
@click.option("--blueprint", "blueprint_ref", required=True, help="蓝图名称、编号，或 YAML/JSON 蓝图文件")
@click.option(
    "--forms", "n_forms", default=1, show_default=True, type=click.IntRange(1, 50), help="平行卷份数"
)
@click.option("--time-limit", default=60.0, show_default=True, type=float, help="求解时间上限（秒）")
@click.option("--gap", default=0.01, show_default=True, type=float, help="可接受的最优性差距")
@click.option("--seed", default=0, show_default=True, type=int, help="随机种子（相同种子结果相同）")
@click.option("--actor", default=None, help="审计记录中的操作人（默认 cli:<系统用户>）")
def assemble_command(
    blueprint_ref: str, n_forms: int, time_limit: float, gap: float, seed: int, actor: str | None
) -> None:
    """按蓝图组卷：用 HiGHS 混合整数规划一次组成 N 份平行卷（状态为“已组卷”）。"""
    actor = _actor(actor)
    session = db.session
    try:
        bp = resolve_blueprint(blueprint_ref, actor)
        result = assemble_forms(
            session, bp, n_forms, time_limit_s=time_limit, seed=seed, gap=gap, actor=actor
        )
        session.commit()
    except (BlueprintError, AssemblyError) as exc:
        session.rollback()
        _fail(str(exc))
        return
    print_assembly(result)


@click.group("blueprint")
def blueprint_group() -> None:
    """组卷蓝图（双向细目表）：创建、查看、导出。"""


@blueprint_group.command("create")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="同名蓝图已存在时用文件内容更新它")
@click.option("--actor", default=None)
def blueprint_create(path: Path, replace: bool, actor: str | None) -> None:
    """从 YAML 或 JSON 文件创建蓝图。"""
    session = db.session
    try:
        spec = load_spec(path)
        existing = get_blueprint(session, spec.name)
        if existing is not None and replace:
            bp = update_blueprint(session, existing, spec, _actor(actor))
        else:
            bp = create_blueprint(session, spec, _actor(actor))
        session.commit()
    except BlueprintError as exc:
        session.rollback()
        _fail(str(exc))
        return
    click.echo(f"蓝图「{bp.name}」已保存（编号 {bp.id}，{spec.item_count} 题，{spec.total_points:g} 分）")


@blueprint_group.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def blueprint_show(name: str, fmt: str) -> None:
    """输出蓝图内容（可保存为文件修改后再导入）。"""
    bp = get_blueprint(db.session, name)
    if bp is None:
        _fail(f"没有名为「{name}」的蓝图")
        return
    click.echo(dumps_spec(spec_of(bp), fmt), nl=False)


@blueprint_group.command("list")
def blueprint_list() -> None:
    """列出全部蓝图。"""
    for bp in db.session.scalars(select(Blueprint).order_by(Blueprint.id)):
        spec = spec_of(bp)
        click.echo(
            f"{bp.id:>4}  {bp.name}  {bp.level}级 {spec.part_label()}  {spec.item_count} 题 {spec.total_points:g} 分  "
            f"{bp.duration_s // 60} 分钟"
        )


@click.group("form")
def form_group() -> None:
    """试卷：列表、审核报告、审核通过、锁定、停用。"""


def _get_form(code: str) -> Form:
    form = db.session.scalar(select(Form).where(Form.code == code))
    if form is None and code.isdigit():
        form = db.session.get(Form, int(code))
    if form is None:
        _fail(f"没有编号为 {code} 的试卷")
    assert form is not None
    return form


@form_group.command("list")
@click.option("--blueprint", "blueprint_ref", default=None, help="只列出该蓝图的试卷")
def form_list(blueprint_ref: str | None) -> None:
    """列出试卷及其状态。"""
    query = select(Form).order_by(Form.id)
    if blueprint_ref:
        bp = get_blueprint(db.session, blueprint_ref)
        if bp is None:
            _fail(f"没有名为「{blueprint_ref}」的蓝图")
            return
        query = query.where(Form.blueprint_id == bp.id)
    for form in db.session.scalars(query):
        click.echo(
            f"{form.code}  {STATUS_LABELS.get(form.status, form.status)}  批次 {form.assembly_group}  {len(form.items)} 题"
        )


def _transition(code: str, action: str, actor: str | None, reason: str) -> None:
    session = db.session
    form = _get_form(code)
    try:
        {"approve": approve_form, "lock": lock_form, "retire": retire_form}[action](
            session, form, _actor(actor), reason
        )
        session.commit()
    except FormStateError as exc:
        session.rollback()
        _fail(str(exc))
        return
    click.echo(f"试卷 {form.code} 现为「{STATUS_LABELS[form.status]}」")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def report_lines(review: FormReview) -> list[str]:
    """The form review as plain text (the same content as the review screen)."""
    form, spec = review.form, review.spec
    out = [
        f"试卷 {form.code}（{STATUS_LABELS.get(form.status, form.status)}）  蓝图「{spec.name}」 {spec.level}级 "
        f"{spec.part_label()}  {spec.item_count} 题 {spec.total_points:g} 分  {spec.duration_s // 60} 分钟",
    ]
    sol = review.solver
    if sol:
        rep = form.assembly_report
        gap = "-" if sol.get("gap") is None else f"{sol['gap']:.2%}"
        out.append(
            f"组卷：{sol.get('name', 'HiGHS')}，{'最优' if sol.get('status') == 'optimal' else '可行解'}，最优性差距 {gap}，"
            f"用时 {rep['seconds']['total']:.1f} 秒（限 {rep['time_limit_s']:.0f} 秒），种子 {rep['seed']}，"
            f"批次 {form.assembly_group}（{len(review.group)} 份）"
        )
    out.append("")
    out.append(
        "题型："
        + "；".join(
            f"{t['label']} {t['count']}/{t['need']} 题 {t['points']:g}/{t['need_points']:g} 分"
            for t in review.section_totals
        )
    )
    types = [s.type for s in spec.sections]
    labels = [s.label for s in spec.sections]
    name_w = max([_width(r["name"]) for r in review.composition] + [8]) + 2
    out.append("知识点 × 题型：")
    out.append(
        "  "
        + _pad("知识点", name_w)
        + "".join(_pad(lab, 8, True) for lab in labels)
        + _pad("分值", 8, True)
        + _pad("比重", 8, True)
        + _pad("目标", 14, True)
    )
    for r in review.composition:
        target = "-" if r["target"] is None else f"{r['target']:.0%}±{spec.area_tolerance:.0%}"
        mark = "" if r["ok"] else "  ✗"
        out.append(
            "  "
            + _pad(r["name"], name_w)
            + "".join(_pad(str(r["by_type"].get(t, 0)), 8, True) for t in types)
            + _pad(f"{r['points']:g}", 8, True)
            + _pad(f"{r['share']:.1%}", 8, True)
            + _pad(target, 14, True)
            + mark
        )
    m = review.measured
    if m["mean_p"] is not None:
        band = (
            f"（区间 [{spec.difficulty.p_min:.2f}, {spec.difficulty.p_max:.2f}]）" if spec.difficulty else ""
        )
        out.append(f"难度：平均 p = {m['mean_p']:.3f}{band}")
    else:
        out.append("难度：本卷题目还没有难度估计")
    if m["information"] is not None and spec.information is not None:
        info = spec.information
        out.append(
            "信息量："
            + "；".join(
                f"θ={th:g}: {v:.2f}（目标 {t:g} ±{info.tolerance:.0%}）"
                for th, v, t in zip(info.thetas, m["information"], info.targets, strict=True)
            )
        )
    if len(review.group) > 1:
        g = review.group_measured
        codes = [f.code.rsplit("-", 1)[-1] for f in review.group]
        out.append(
            f"平行卷重复题数（上限 {g['overlap_limit']} 道；平均难度极差 {g['mean_p_spread'] or 0:.3f}）："
        )
        out.append("      " + "".join(_pad(c, 6, True) for c in codes))
        for c, row in zip(codes, g["overlap"], strict=True):
            out.append("  " + _pad(c, 4) + "".join(_pad(str(v), 6, True) for v in row))
    conflicts = m["enemy_conflicts"]
    out.append(
        "互斥检查：" + ("无冲突" if not conflicts else "；".join(", ".join(v) for v in conflicts.values()))
    )
    out.append("约束检查：" + ("全部满足" if not review.violations else ""))
    out.extend(f"  ✗ {v}" for v in review.violations)
    if review.lock_intact is not None:
        out.append("锁定：" + ("内容与锁定时一致" if review.lock_intact else "内容与锁定快照不一致！"))
    return out


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
        from exam_server.assembly.plots import review_png

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
def form_lock(code: str, reason: str, actor: str | None) -> None:
    """锁定试卷：冻结题目版本、答案、分值和顺序规则（未审核的先审核通过）。"""
    _transition(code, "lock", actor, reason)


@form_group.command("retire")
@click.argument("code")
@click.option("--reason", required=True)
@click.option("--actor", default=None)
def form_retire(code: str, reason: str, actor: str | None) -> None:
    """停用试卷。"""
    _transition(code, "retire", actor, reason)


commands: list[click.Command] = [assemble_command, blueprint_group, form_group]

"""`examctl item-analysis SESSION`: the item analysis of a sitting from a shell, with its actions."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from exam_server.analysis import plots
from exam_server.analysis.compute import SessionAnalysis, analyse_session, find_session, fmt_num, form_summary
from exam_server.analysis.export import export_excel
from exam_server.analysis.operations import accept_estimates, send_to_review
from exam_server.analysis.settings import MODELS, AnalysisSettings
from exam_server.core.cli import command_actor, refusals_as_click_errors, user_by_name
from exam_server.extensions import db
from item_bank.kernel import user_actor
from item_bank.review import Reviewer


def _reviewer(username: str | None) -> Reviewer:
    if username is None:
        # An operator at the server's shell acts as the bank manager; the audit rows say it was the CLI.
        return Reviewer(command_actor(), None, frozenset({"bank_manager"}))
    user = user_by_name(username)
    return Reviewer(user_actor(user.username), user.id, frozenset(user.roles or []))


@click.command("item-analysis")
@click.argument("session_ref", metavar="SESSION")
@click.option(
    "--model", type=click.Choice(MODELS), default=None, help="IRT 模型（默认 2pl 或 ITEM_ANALYSIS_MODEL）"
)
@click.option("--min-n", type=int, default=None, help="接受估计值所需的最少作答人数（默认 200）")
@click.option(
    "--excel", "excel_path", type=click.Path(dir_okay=False, path_type=Path), help="导出 Excel 到此文件"
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="把总分分布、测验信息和被标记试题的图写入此目录",
)
@click.option("--send-to-review", "send", is_flag=True, help="把被标记的试题送题库审核（附统计）")
@click.option("--accept", is_flag=True, help="把估计值（p、a、b、c）写入题库")
@click.option(
    "--user", "username", default=None, help="以此工作人员的身份送审（默认：命令行，题库管理员权限）"
)
@refusals_as_click_errors
def item_analysis_command(
    session_ref: str,
    model: str | None,
    min_n: int | None,
    excel_path: Path | None,
    plots_dir: Path | None,
    send: bool,
    accept: bool,
    username: str | None,
) -> None:
    """试题分析：考试场次（编号或ID）各试卷的难度、区分度、干扰项、信度与IRT参数，标记有问题的试题。"""
    exam_session = find_session(db.session, session_ref)
    settings = AnalysisSettings.from_config(current_app.config, model=model, min_n=min_n)
    analysis = analyse_session(db.session, exam_session, settings)
    click.echo(f"考试场次 {analysis.code}：{analysis.name}")
    click.echo(
        f"已交卷 {analysis.n_attempts} 人，{len(analysis.forms)} 套试卷，用时 {analysis.seconds:.1f} 秒"
    )
    click.echo("")
    click.echo("试卷     人数  题数  平均分  标准差  α(KR-20)   SEM  合格率  标记")
    for s in form_summary(analysis).to_dict("records"):
        click.echo(
            f"{s['form_code']}  {int(s['n_persons']):>4}  {int(s['n_items']):>4}  {fmt_num(s['mean'], 1):>6}  "
            f"{fmt_num(s['sd'], 1):>6}  {fmt_num(s['alpha'], 3):>8}  {fmt_num(s['sem'], 2):>5}  {s['pass_rate']:>6.0%}  {s['n_flagged']:>4}"
        )
    irt = analysis.irt
    click.echo("")
    if irt.fitted:
        click.echo(
            f"IRT {irt.model.upper()}：{irt.n_persons} 人、{len(irt.params)} 题，"
            f"{'已收敛' if irt.converged else '未收敛'}，迭代 {irt.n_iter} 次，对数似然 {irt.loglik:.1f}，"
            f"用时 {irt.seconds:.1f} 秒" + (f"；未估计 {len(irt.excluded)} 题" if irt.excluded else "")
        )
    else:
        click.echo(f"IRT：{irt.message}")
    click.echo("")
    flagged = analysis.flagged_version_ids()
    click.echo(f"被标记的试题 {len(flagged)} 题：")
    for f in analysis.forms:
        for vid in flagged:
            if vid not in {it.version_id for it in f.data.items}:
                continue
            it, s = f.item(vid), f.ctt.items.loc[vid]
            click.echo(
                f"  试卷 {f.form_code} 第 {it.position} 题 {it.external_id}（答案 {it.key_text}）"
                f" p={fmt_num(s['p'])} r={fmt_num(s['r_corrected'])}"
            )
            for reason in f.flag_reasons(vid):
                click.echo(f"      - {reason}")
    if excel_path is not None:
        excel_path.write_bytes(export_excel(analysis))
        click.echo(f"\n已导出 Excel：{excel_path}")
    if plots_dir is not None:
        written = write_plots(analysis, plots_dir)
        click.echo(f"已写入 {written} 张图：{plots_dir}")
    if send and not flagged:
        click.echo("\n没有需要送审的试题。")
    elif send:
        click.echo("\n" + "\n".join(send_to_review(db.session, analysis, _reviewer(username)).lines()))
    if accept:
        click.echo("\n" + "\n".join(accept_estimates(db.session, analysis, _reviewer(username).actor).lines()))


def write_plots(analysis: SessionAnalysis, directory: Path) -> int:
    """Histogram and test information per form, ICC and distractor plot per flagged item, as PNG files."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    flagged = set(analysis.flagged_version_ids())
    for f in analysis.forms:
        files: dict[str, bytes | None] = {
            f"{f.form_code}-histogram.png": plots.form_histogram(analysis, f),
            f"{f.form_code}-information.png": plots.form_information(analysis, f),
        }
        for it in f.data.items:
            if it.version_id in flagged:
                stem = f"{f.form_code}-{it.position:03d}-{it.external_id}"
                files[f"{stem}-icc.png"] = plots.item_icc(analysis, f, it.version_id)
                if it.has_options:
                    files[f"{stem}-distractors.png"] = plots.item_distractors(f, it.version_id)
        for name, data in files.items():
            if data is not None:
                (directory / name).write_bytes(data)
                count += 1
    return count


commands = [item_analysis_command]

"""`examctl site results` (a site) and `examctl site import-results` (the centre): the results package back.

They join the `site` group of sitenode/cli.py when this module is loaded (exam_server/cli.py lists it).
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from exam_server.core import signing
from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.core.cli_help import chinese_help
from exam_server.extensions import db
from exam_server.sessions.cli import sitting_by_ref
from exam_server.sessions.models import Site
from exam_server.sitenode import package, results_package
from exam_server.sitenode.cli import site


def this_site(code: str | None = None) -> Site:
    """The site this node is (SITE_CODE, or what `examctl site keygen --site` wrote), or the one named."""
    code = code or package.node_site_code(signing.node_folder(), current_app.config.get("SITE_CODE"))
    if not code:
        raise click.ClickException("本节点尚未设定考点代码（SITE_CODE，或 examctl site keygen --site 代码），或用 --site 指定")
    found = db.session.scalar(select(Site).where(Site.code == code))
    if found is None:
        raise click.ClickException(f"本节点没有考点 {code}")
    return found


@click.command("results")
@click.argument("sitting")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--site", "site_code", default=None, help="考点编号（默认本节点的考点）")
@refusals_as_click_errors
def results(sitting: str, output: Path, site_code: str | None) -> None:
    """考点导出考试场次 SITTING 的成绩数据包（全部作答、事件记录哈希链、签到、考场事件和监考操作，以本考点密钥签名）。"""
    exam_session = sitting_by_ref(sitting)
    began = time.perf_counter()
    built = results_package.build_results(db.session, exam_session, this_site(site_code),
                                          signing.load_private_key(signing.node_folder()), command_actor())
    output.write_bytes(built.data)
    s = built.summary
    click.echo(f"已导出 {output}（{len(built.data) / 1024:.0f} KB，{time.perf_counter() - began:.1f} 秒）："
               f"{s['attempts']} 份作答记录（已交卷 {s['submitted']} 份），{s['events']} 个事件，"
               f"签到 {s['check_ins']} 条，考场事件 {s['incidents']} 条，监考操作 {s['proctor_actions']} 条")
    for line in s["broken"]:
        click.echo(f"警告：{line}（鉴定中心将拒绝导入此数据包）", err=True)


@click.command("import-results")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-score", is_flag=True, help="只导入，不评分")
@refusals_as_click_errors
def import_results(path: Path, no_score: bool) -> None:
    """鉴定中心导入考点的成绩数据包 PATH：核对考点公钥签名和每份事件记录，只补充新内容，然后评分。"""
    began = time.perf_counter()
    report = results_package.import_results(db.session, path, command_actor(), name=path.name, score=not no_score)
    click.echo("\n".join(report.lines()))
    click.echo(f"用时 {time.perf_counter() - began:.1f} 秒")


for _command in (results, import_results):
    site.add_command(chinese_help(_command))

commands: list[click.Command] = []

"""`examctl standby …`: a site's warm standby machine (sitenode/standby.py, README "A site that loses its server").

On the standby machine (its own SQLite file and instance folder, the same SECRET_KEY, a copy of the site's node key):
    examctl standby follow --primary http://考点主机:5000     # runs until promoted; about one pull a second
    examctl standby status                                     # how far behind, the newest event held
    examctl standby promote                                    # the primary is dead: take over, then
    examctl run --role site --host 0.0.0.0 --port 5000         # serve the site from this machine
    examctl standby takeover --port 5000                       # (the two in one process: seconds sooner)
"""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app

from exam_server.core.cli import refusals_as_click_errors, serve
from exam_server.extensions import db
from exam_server.sitenode import standby as standby_ops


@click.group("standby")
def standby() -> None:
    """考点备用服务器（热备）：跟随主服务器、查看同步状态、主服务器故障时接替。"""


@standby.command("follow")
@click.option("--primary", "primary_url", required=True, help="主服务器地址，如 http://192.168.1.10:5000")
@click.option("--interval", default=1.0, show_default=True, help="每隔多少秒取一次复制数据")
@click.option("--once", is_flag=True, help="只同步一次就退出（检查配置用）")
@refusals_as_click_errors
def follow(primary_url: str, interval: float, once: bool) -> None:
    """跟随主服务器：先取整库副本，之后约每秒取一次新的作答事件、计时状态、登录凭据和监考记录，直到被接替命令结束。"""
    click.echo(f"备机开始跟随 {primary_url}（状态文件 {standby_ops.state_path(current_app)}）")
    standby_ops.follow(current_app, db.session, primary_url, interval=interval, once=once,
                       say=lambda line: click.echo(line))
    click.echo("备机已停止跟随")


@standby.command("promote")
@click.option("--no-last-pull", is_flag=True, help="不再尝试从主服务器取最后的数据")
@refusals_as_click_errors
def promote(no_last_pull: bool) -> None:
    """主服务器故障时由本备机接替：结束跟随，取主服务器尚能给出的最后数据，记为考点服务器。之后运行 examctl run --role site。"""
    state = standby_ops.promote(current_app, db.session, last_pull=not no_last_pull,
                                say=lambda line: click.echo(line))
    local = state.get("local") or {}
    click.echo(f"本机已接替为考点服务器（第 {state.get('epoch')} 代）。最新事件：编号 {local.get('id', 0)}"
               f"{'，' + str(local.get('kind')) + '，' + str(local.get('at')) if local.get('kind') else ''}")
    click.echo("请把考点服务器的地址（IP 别名或主机名）转到本机，然后运行：examctl run --role site --host 0.0.0.0 --port 端口")


@standby.command("takeover")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-last-pull", is_flag=True, help="不再尝试从主服务器取最后的数据")
@refusals_as_click_errors
def takeover(host: str, port: int, no_last_pull: bool) -> None:
    """接替并立即提供考点服务（等于 promote 之后 examctl run --role site，但少启动一个进程，快几秒）。"""
    state = standby_ops.promote(current_app, db.session, last_pull=not no_last_pull,
                                say=lambda line: click.echo(line))
    db.session.close()
    current_app.config["NODE_ROLE"] = "site"
    click.echo(f"本机已接替为考点服务器（第 {state.get('epoch')} 代），考试服务运行于 http://{host}:{port}")
    serve(host, port)


@standby.command("status")
def status() -> None:
    """显示备机状态：是否在跟随、与主服务器相差多少事件、最近一次同步的时间和最新事件。"""
    state = standby_ops.read_state(current_app)
    if not state:
        raise click.ClickException("本机不是备机（没有 standby.json）")
    names = {standby_ops.FOLLOWING: "正在跟随", standby_ops.PROMOTED: "已接替（提升为考点服务器）"}
    click.echo(f"状态：{names.get(state.get('state'), state.get('state'))}；主服务器：{state.get('primary')}")
    ok_at = state.get("last_ok_at")
    if ok_at:
        age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(ok_at)).total_seconds()
        click.echo(f"最近一次同步：{ok_at}（{age:.0f} 秒前），落后 {state.get('lag_events', '?')} 个事件")
    local = state.get("local") or {}
    click.echo(f"本机最新事件：编号 {local.get('id', 0)} {local.get('kind', '')} {local.get('at', '')}")
    pull = state.get("last_pull") or {}
    if pull:
        click.echo(f"最近一次取得：{pull.get('events', 0)} 个事件，{pull.get('bytes', 0)} 字节，应用 {pull.get('apply_ms', 0)} 毫秒")
    if state.get("last_error"):
        click.echo(f"最近的错误（{state.get('last_error_at')}）：{state.get('last_error')}")
    if state.get("state") == standby_ops.PROMOTED:
        click.echo(f"接替时间：{state.get('promoted_at')}，第 {state.get('epoch')} 代")


commands = [standby]

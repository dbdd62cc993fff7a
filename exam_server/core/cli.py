"""Operator commands: create the database, add staff accounts, run the server."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import current_app
from sqlalchemy import or_, select

from exam_server.core import operations as ops
from exam_server.core.background import start_background_tasks
from exam_server.core.collector import freeze_survivors_of_full_collections
from exam_server.core.listening import DEFAULT_HOST, DEFAULT_PORT, gevent_server
from exam_server.core.migrate import upgrade_to_head
from exam_server.core.models import ROLES, User
from exam_server.core.security import STAFF_ACCOUNT
from exam_server.extensions import db, socketio
from item_bank.kernel import DomainError, cli_actor

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def refusals_as_click_errors(command: F) -> F:
    """A domain refusal raised by a command becomes click's error: its Chinese message and exit code 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc

    return run  # type: ignore[return-value]


def one_or_refuse(row: T | None, missing: str) -> T:
    """`row`, or the command ends with `missing` (what the operator typed that names nothing) as its refusal."""
    if row is None:
        raise click.ClickException(missing)
    return row


def user_by_name(username: str) -> User:
    """The account USERNAME, or a refusal naming it."""
    return one_or_refuse(db.session.scalar(select(User).where(User.username == username)), f"没有用户 {username}")


def command_actor() -> str:
    """The audit actor of the running `examctl` command: `cli:<command name>`."""
    return cli_actor(click.get_current_context().info_name or "examctl")


@click.command("init-db")
def init_db() -> None:
    """建库/升级：把数据库结构升级到最新迁移版本（Alembic）。"""
    upgrade_to_head(current_app.config["DATABASE_URL"])
    click.echo(f"数据库已升级到最新版本: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-user")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="显示名称")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), required=True)
@click.option("--organisation", default=None, help="所属机构：鉴定中心、试点单位或省的编号（见 examctl list-centres / list-units）")
@click.password_option()
@refusals_as_click_errors
def create_user(username: str, display_name: str | None, roles: tuple[str, ...], organisation: str | None,
                password: str) -> None:
    """新建工作人员账号，可指定一个或多个角色和所属机构（决定能看到哪些数据）。"""
    organisation_id = ops.organisation_directory().resolve(db.session, organisation) if organisation else None
    ops.create_user(db.session, username=username, display_name=display_name or username, roles=list(roles),
                    password=password, hash_profile=current_app.config["PASSWORD_HASH_PROFILE"],
                    actor=command_actor(), organisation_id=organisation_id)
    where = f"，所属 {ops.organisation_directory().describe(db.session, organisation_id)}" if organisation_id else ""
    click.echo(f"已创建用户 {username} ({', '.join(roles)}){where}")


@click.group("users")
def users() -> None:
    """工作人员账号：列出、停用、启用、重置密码、设置角色、解除登录限制（每项变更都记入审计日志）。"""


def _users_actor() -> str:
    """`cli:users <subcommand>`: the audit actor of a `examctl users ...` change."""
    return cli_actor(f"users {click.get_current_context().info_name}")


@users.command("list")
@click.option("--search", "search", default="", help="按用户名或姓名查找")
@click.option("--organisation", default=None, help="只列出这个机构（编号）的账号")
@refusals_as_click_errors
def list_users(search: str, organisation: str | None) -> None:
    """列出账号：用户名、姓名、角色、状态、所属机构。"""
    directory = ops.organisation_directory()
    query = select(User).order_by(User.username)
    if search:
        like = f"%{search}%"
        query = query.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    if organisation:
        query = query.where(User.organisation_id == directory.resolve(db.session, organisation))
    for user in db.session.scalars(query):
        roles = "、".join(ops.ROLE_LABELS.get(r, r) for r in user.roles)
        member = directory.describe(db.session, user.organisation_id) or "未归属机构"
        click.echo(f"{user.username}\t{user.display_name}\t{roles}\t{'正常' if user.active else '已停用'}\t{member}")


@users.command("disable")
@click.argument("username")
@refusals_as_click_errors
def disable_user(username: str) -> None:
    """停用账号：其所有登录立即失效（不能停用最后一个系统管理员）。"""
    ops.set_active(db.session, ops.find_user(db.session, username), False, _users_actor())
    click.echo(f"已停用 {username}，其登录已全部失效。")


@users.command("enable")
@click.argument("username")
@refusals_as_click_errors
def enable_user(username: str) -> None:
    """启用已停用的账号。"""
    ops.set_active(db.session, ops.find_user(db.session, username), True, _users_actor())
    click.echo(f"已启用 {username}。")


@users.command("reset-password")
@click.argument("username")
@click.password_option(prompt="新密码")
@refusals_as_click_errors
def reset_password(username: str, password: str) -> None:
    """重置密码（须符合密码规则）：该账号的所有登录立即失效。"""
    ops.reset_password(db.session, ops.find_user(db.session, username), password,
                       current_app.config["PASSWORD_HASH_PROFILE"], _users_actor())
    click.echo(f"已重置 {username} 的密码，其登录已全部失效。")


@users.command("set-roles")
@click.argument("username")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), required=True)
@refusals_as_click_errors
def set_roles(username: str, roles: tuple[str, ...]) -> None:
    """把账号的角色设为给出的这些（--role 可重复）：该账号的所有登录立即失效。"""
    ops.set_roles(db.session, ops.find_user(db.session, username), list(roles), _users_actor())
    click.echo(f"{username} 的角色现为 {', '.join(roles)}，其登录已全部失效。")


@users.command("set-organisation")
@click.argument("username")
@click.option("--organisation", required=True, help="鉴定中心、试点单位或省的编号；none 表示不属于任何机构")
@refusals_as_click_errors
def set_organisation(username: str, organisation: str) -> None:
    """设置账号的所属机构（鉴定中心、试点单位或省），决定它能看到哪些数据。"""
    directory = ops.organisation_directory()
    user = ops.find_user(db.session, username)
    organisation_id = None if organisation.lower() == "none" else directory.resolve(db.session, organisation)
    ops.set_organisation(db.session, user, organisation_id, _users_actor())
    click.echo(f"{username} 现在所属：{directory.describe(db.session, organisation_id) or '未归属机构'}")


@users.command("unlock")
@click.argument("username")
@refusals_as_click_errors
def unlock_user(username: str) -> None:
    """解除账号因多次输错密码而受的登录限制。"""
    user = ops.find_user(db.session, username)
    if ops.unlock_login(db.session, STAFF_ACCOUNT, user.username, _users_actor(), "user", user.id):
        click.echo(f"已解除 {username} 的登录限制。")
    else:
        click.echo(f"{username} 当前没有登录限制。")


def serve(host: str, port: int) -> None:
    """Serve the app with Socket.IO on host:port (gevent in production, see DESIGN.md §10), with its background
    work (the deadline sweeper)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["RUN_BACKGROUND_TASKS"]:
        start_background_tasks(app)
    db.open_pool()  # before anyone is taken in: a restart's rejoins find their connections open
    # What start-up built (modules, mappers, the app) lives as long as the process: keep it out of
    # the garbage collector's full passes, which otherwise stall every socket for their duration.
    gc.collect()
    gc.freeze()
    socketio.start_background_task(freeze_survivors_of_full_collections, socketio.sleep)
    server = gevent_server(app, host, port, app.config["ACCEPT_PER_TURN"]) \
        if socketio.server.eio.async_mode == "gevent" else None
    if server is None:
        socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, log_output=False)
        return
    socketio.wsgi_server = server
    server.serve_forever()


@click.command("run")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--role", type=click.Choice(["centre", "site"]), default=None,
              help="本节点的角色：centre 鉴定中心（全部功能），site 考点（只有考试当天的功能）；默认取 NODE_ROLE")
def run(host: str, port: int, role: str | None) -> None:
    """启动考试服务（gevent，含服务器端计时与到时自动交卷）。"""
    if role is not None:
        current_app.config["NODE_ROLE"] = role
    shown = "考点" if current_app.config.get("NODE_ROLE") == "site" else "鉴定中心"
    click.echo(f"考试服务（{shown}）运行于 http://{host}:{port}")
    serve(host, port)


commands = [init_db, create_user, users, run]

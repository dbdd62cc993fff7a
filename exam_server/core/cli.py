"""Operator commands: create the database, add staff accounts, run the server."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import current_app

from exam_server.core.background import start_background_tasks
from exam_server.core.migrate import upgrade_to_head
from exam_server.core.models import ROLES
from exam_server.core.operations import create_user as create_user_account
from exam_server.extensions import db, socketio
from item_bank.kernel import DomainError, cli_actor

F = TypeVar("F", bound=Callable[..., Any])


def refusals_as_click_errors(command: F) -> F:
    """A domain refusal raised by a command becomes click's error: its Chinese message and exit code 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc

    return run  # type: ignore[return-value]


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
@click.password_option()
@refusals_as_click_errors
def create_user(username: str, display_name: str | None, roles: tuple[str, ...], password: str) -> None:
    """新建工作人员账号，可指定一个或多个角色。"""
    create_user_account(db.session, username=username, display_name=display_name or username, roles=list(roles),
                        password=password, hash_profile=current_app.config["PASSWORD_HASH_PROFILE"])
    click.echo(f"已创建用户 {username} ({', '.join(roles)})")


def serve(host: str, port: int) -> None:
    """Serve the app with Socket.IO on host:port (gevent in production, see DESIGN.md §10), with its background
    work (the deadline sweeper)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["RUN_BACKGROUND_TASKS"]:
        start_background_tasks(app)
    # What start-up built (modules, mappers, the app) lives as long as the process: keep it out of
    # the garbage collector's full passes, which otherwise stall every socket for their duration.
    gc.collect()
    gc.freeze()
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, log_output=False)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """启动考试服务（gevent，含服务器端计时与到时自动交卷）。"""
    click.echo(f"考试服务运行于 http://{host}:{port}")
    serve(host, port)


commands = [init_db, create_user, run]

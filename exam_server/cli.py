"""`examctl`: every command a staff member or operator runs from a shell.

Each domain keeps its commands in its own `cli.py` exposing `commands` (a list of click commands);
they are collected here onto the Flask CLI group.
"""

from __future__ import annotations

import importlib
import os

import click
from flask import Flask
from flask.cli import FlaskGroup

from exam_server.core.cli_help import chinese_help, localise_group

DOMAIN_COMMANDS = (
    "exam_server.core.cli",
    "exam_server.bank.cli",
    "exam_server.delivery.cli",
    "exam_server.assembly.cli",
    "exam_server.organisations.cli",
    "exam_server.applications.cli",
    "exam_server.sessions.cli",
    "exam_server.proctoring.cli",
    "exam_server.grading.cli",
    "exam_server.results.cli",
    "exam_server.certificates.cli",
    "exam_server.skills.cli",
    "exam_server.reports.cli",
    "exam_server.analysis.cli",
    "exam_server.jobs.cli",
    "exam_server.ops.cli",
    "exam_server.sitenode.cli",
    "exam_server.sitenode.results_cli",
    "exam_server.sitenode.standby_cli",
    "exam_server.demo",
)


def register_commands(app: Flask) -> None:
    for name in DOMAIN_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a domain without commands yet
            raise
        for command in module.commands:
            app.cli.add_command(chinese_help(command))


def _create_app() -> Flask:
    from exam_server.app import create_app

    return create_app()


@localise_group
@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def cli() -> None:
    """考务命令行 examctl：保安员职业技能鉴定考务系统的管理命令（数据库由环境变量 DATABASE_URL 指定）。

    每个命令的用法：examctl 命令 --help。
    """


def main() -> None:
    os.environ.setdefault("FLASK_RUN_FROM_CLI", "false")
    cli()

"""examctl's help and errors in Chinese: click's own words (Usage, Options, Commands, "Show this message and
exit.") and Flask's group options, which an operator reading `examctl --help` otherwise meets in English, and a
command run on a database that was never set up, which otherwise ends in a SQLAlchemy traceback.

`localise_group` is applied to the examctl group, `chinese_help(command)` to every command added to it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

# click's fixed phrases as examctl shows them.
PHRASES = {
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本并退出。",
    "[required]": "[必填]",
    "default:": "默认：",
    "required": "必填",
    "env var:": "环境变量：",
}
SECTIONS = {"Options": "选项", "Commands": "命令", "Arguments": "参数"}
ENV_FILE_HELP = (
    "从此文件读取环境变量（如 DATABASE_URL），优先于 .env 与 .flaskenv；直接设置的环境变量优先级最高。"
)
# Flask's group options examctl does not use: it always builds its own app, debug mode is for development.
DROPPED_OPTIONS = frozenset({"app", "debug", "version"})


def _translate(text: str) -> str:
    for english, chinese in PHRASES.items():
        text = text.replace(english, chinese)
    return text


class ChineseHelpFormatter(click.HelpFormatter):
    """click's help layout with Chinese headings and phrases."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(
            prog,
            args.replace("[OPTIONS]", "[选项]").replace("COMMAND", "命令").replace("[ARGS]...", "[参数]..."),
            prefix="用法：",
        )

    def write_heading(self, heading: str) -> None:
        super().write_heading(SECTIONS.get(heading, heading))

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, _translate(text)) for term, text in rows], col_max, col_spacing)


class ChineseContext(click.Context):
    formatter_class = ChineseHelpFormatter


def _chinese_help_option(command: click.Command) -> None:
    # Commands are module-level objects registered again by every app the process creates (each test makes
    # one): wrap once, or the wrappers nest until a long test run hits the recursion limit.
    if getattr(command, "_examctl_chinese_help", False):
        return
    command._examctl_chinese_help = True  # type: ignore[attr-defined]
    original = command.get_help_option

    def get_help_option(ctx: click.Context) -> click.Option | None:
        option = original(ctx)
        if option is not None:
            option.help = PHRASES["Show this message and exit."]
        return option

    command.get_help_option = get_help_option  # type: ignore[method-assign]


def chinese_help(command: click.Command) -> click.Command:
    """`command` (and, for a group, its subcommands) with Chinese help; returns it."""
    command.context_class = ChineseContext
    _chinese_help_option(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            chinese_help(sub)
    return command


def examctl_params(params: Iterable[click.Parameter]) -> list[click.Parameter]:
    """Flask's group options as examctl keeps them: --env-file in Chinese, the others left out."""
    kept: list[click.Parameter] = []
    for param in params:
        if param.name in DROPPED_OPTIONS:
            continue
        if param.name == "env_file" and isinstance(param, click.Option):
            param = copy.copy(param)  # Flask's own option object is shared: change a copy
            param.help = ENV_FILE_HELP
        kept.append(param)
    return kept


class ExamctlError(click.ClickException):
    """A command refused with a Chinese line (click's own prefix is "Error:")."""

    def show(self, file: Any = None) -> None:
        click.echo(f"错误：{self.format_message()}", file=file, err=True)


NOT_INITIALISED = "数据库尚未初始化（缺少数据表 {table}）：请先运行 examctl init-db"


def missing_table(exc: Exception) -> str | None:
    """The table a database error says is missing (SQLite: "no such table: x"; PostgreSQL: relation "x" does
    not exist), else None."""
    text = str(getattr(exc, "orig", exc))
    for marker in ("no such table: ",):
        if marker in text:
            return text.split(marker, 1)[1].split()[0].strip('"')
    if "does not exist" in text and "relation" in text:
        return text.split('"')[1] if text.count('"') >= 2 else "?"
    return None


def localise_group(group: Any) -> Any:
    """The examctl group with Chinese help, without Flask's development options, and with a Chinese line
    instead of a traceback when the database has not been set up."""
    group.params = examctl_params(group.params)
    invoke = group.invoke

    def invoke_initialised(ctx: click.Context) -> Any:
        try:
            return invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            table = missing_table(exc)
            if table is None:
                raise
            raise ExamctlError(NOT_INITIALISED.format(table=table)) from None
        except click.UsageError:
            raise
        except click.ClickException as exc:
            if isinstance(exc, ExamctlError):
                raise
            # A domain's refusal, shown with a Chinese prefix instead of click's "Error:".
            raise ExamctlError(exc.format_message()) from None

    group.invoke = invoke_initialised
    return chinese_help(group)

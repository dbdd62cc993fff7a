"""examctl speaks Chinese: its help (click's and Flask's words too) and a command run before `init-db`."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from exam_server.cli import cli


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "FLASK_RUN_FROM_CLI": "false"}
    result = CliRunner().invoke(cli, list(args), prog_name="examctl", env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_help_has_no_english_of_flask_or_click(tmp_path: Path) -> None:
    code, text = _run(tmp_path, "--help")
    assert code == 0
    assert text.startswith("用法：examctl [选项] 命令") and "选项" in text and "命令" in text
    assert "显示本帮助并退出" in text and "从此文件读取环境变量" in text
    for english in (
        "Usage:",
        "Options:",
        "Commands:",
        "Show this message",
        "--app",
        "--debug",
        "Flask",
        "python-dotenv",
    ):
        assert english not in text, english
    code, text = _run(tmp_path, "import-items", "--help")
    assert code == 0 and text.startswith("用法：examctl import-items [选项]") and "显示本帮助并退出" in text
    assert not re.search(r"\b(Usage|Options|Show this message)\b", text)


def test_a_command_before_init_db_says_so(tmp_path: Path) -> None:
    table = tmp_path / "x.csv"
    table.write_text("id,type,stem,answer\n", encoding="utf-8")
    code, text = _run(tmp_path, "import-items", str(table), "--dry-run")
    assert code == 1
    assert "请先运行 examctl init-db" in text and "Traceback" not in text and "sqlalchemy" not in text.lower()


def test_a_refusal_is_prefixed_in_chinese(tmp_path: Path) -> None:
    assert _run(tmp_path, "init-db")[0] == 0
    table = tmp_path / "x.csv"
    table.write_text("试题编号,题型,题干,选项A,选项B,答案\nA-1,单选题,题（ ）,甲,乙,A\n", encoding="utf-8")
    code, text = _run(tmp_path, "import-items", str(table), "--as", "nobody")
    assert code == 1 and "错误：账号 nobody 不存在或已停用" in text and "Error:" not in text


def test_creating_another_app_does_not_wrap_the_commands_again(tmp_path: Path) -> None:
    """Every app registers the same module-level commands: the Chinese help must wrap them once (a long test run
    once made 1,000 apps and every command then died of RecursionError)."""
    from exam_server.app import create_app

    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'many.db'}", "TESTING": True}
    app = create_app(config)
    wrapped = {name: command.get_help_option for name, command in app.cli.commands.items()}
    again = create_app(config)
    assert {name: command.get_help_option for name, command in again.cli.commands.items()} == wrapped
    code, text = _run(tmp_path, "import-items", "--help")
    assert code == 0 and "显示本帮助并退出" in text

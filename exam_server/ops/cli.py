"""`examctl backup`, `examctl verify-backup`, `examctl restore` and `examctl housekeeping`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app

from exam_server.core.cli import refusals_as_click_errors
from exam_server.extensions import db
from exam_server.jobs import files
from exam_server.ops import backup as backups
from exam_server.ops.housekeeping import report_lines, run_housekeeping


def backed_up_folders(app: Flask) -> dict[str, Path]:
    """The folders of files the server keeps outside the database, by the area name a backup files them under.
    (Item media and grading scans are rows of the database.)"""
    return {
        "jobs": files.jobs_dir(app.config, app.instance_path),
        "job_uploads": files.upload_dir(app.config, app.instance_path),
        "uploads": Path(app.instance_path) / "uploads",
    }


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-files", is_flag=True, help="只备份数据库，不备份文件目录")
@refusals_as_click_errors
def backup_command(dest: Path, no_files: bool) -> None:
    """在线备份：数据库（SQLite 备份接口 / pg_dump）与文件目录，写入新目录 DEST，附校验清单。考试进行中也可执行。"""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    folders = {} if no_files else backed_up_folders(app)
    manifest = backups.backup(app.config["DATABASE_URL"], folders, dest, say=click.echo)
    size = sum(entry["bytes"] for entry in manifest.files)
    click.echo(f"备份完成并已校验：{dest}（{len(manifest.files)} 个文件，{size / 1024 / 1024:.1f} MB）")


@click.command("verify-backup")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@refusals_as_click_errors
def verify_backup_command(src: Path) -> None:
    """校验备份目录：逐个文件核对清单中的大小与 SHA-256。"""
    manifest = backups.verify(src)
    click.echo(f"备份完好：{manifest.kind} 数据库，结构版本 {manifest.schema_revision or '无'}，"
               f"{len(manifest.files)} 个文件，备份于 {manifest.created_at}")


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--database-url", default=None,
              help="恢复到的数据库（默认为 DATABASE_URL）；须为新建的空库，除非加 --force")
@click.option("--force", is_flag=True, help="覆盖非空的数据库与目标目录中的同名文件（先停止使用该库的服务）")
@click.option("--no-files", is_flag=True, help="只恢复数据库，不恢复文件目录")
@refusals_as_click_errors
def restore_command(src: Path, database_url: str | None, force: bool, no_files: bool) -> None:
    """从备份目录 SRC 恢复：先校验，再恢复到新数据库与文件目录，最后升级数据库结构。"""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    folders = {} if no_files else backed_up_folders(app)
    target = database_url or app.config["DATABASE_URL"]
    backups.restore(src, target, folders, force=force, say=click.echo)
    click.echo(f"恢复完成：{backups.redacted(target)}")


@click.command("housekeeping")
def housekeeping_command() -> None:
    """例行清理（服务器本身每 HOUSEKEEPING_INTERVAL_S 秒排队一次）：删除过期未确认的导入预检文件、过期的登录限制记录等。"""
    for line in report_lines(run_housekeeping(current_app._get_current_object(), db.session)) or ["没有需要清理的内容。"]:
        click.echo(line)


commands = [backup_command, verify_backup_command, restore_command, housekeeping_command]

"""Backups of a running server and their restore: the database and the folders of files beside it.

A backup is a folder holding
- `database.sqlite` (SQLite's online backup API: one step, so one consistent snapshot, while candidates keep saving;
  in WAL mode the writers are not blocked) or `database.dump` (`pg_dump --format=custom`: one repeatable-read
  snapshot of a live PostgreSQL database);
- `files/<area>/...`: copies of the folders of files the server keeps outside the database (job results, uploads
  waiting for a job); item media and grading scans live in the database itself;
- `manifest.json`, written last: when it was taken, the schema revision, the database kind, and every file with its
  size and SHA-256. A folder without a manifest is an unfinished backup.

`verify` checks a backup against its manifest; `restore` verifies, then loads it into a database that must be new
(empty) unless forced, copies the files back and upgrades the schema to this code's newest migration.
Nothing here knows Flask: the CLI passes the database URL and the folders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from exam_server.core.migrate import upgrade_to_head
from item_bank.kernel import DomainError

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.dump"
FILES = "files"
CHUNK = 1024 * 1024
# pg_dump / pg_restore of a large bank take minutes; a hung server must not hold the command for ever.
PG_TIMEOUT_S = 6 * 3600

Say = Callable[[str], None]


class BackupError(DomainError):
    """A backup or restore that cannot be done, or a backup that does not match its manifest."""

    default_code = "backup_failed"
    default_status = 400


@dataclass
class Manifest:
    """What a backup holds (manifest.json)."""

    created_at: str
    kind: str  # "sqlite" | "postgresql"
    database_file: str
    schema_revision: str | None
    source: str  # the database URL without its password
    files: list[dict[str, Any]] = field(default_factory=list)  # area, path, bytes, sha256 (database first)
    tools: dict[str, str] = field(default_factory=dict)
    finished_at: str = ""
    format: int = FORMAT

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "database": {"kind": self.kind, "file": self.database_file, "source": self.source},
            "schema_revision": self.schema_revision,
            "tools": self.tools,
            "files": self.files,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        database = data["database"]
        return cls(
            format=int(data["format"]),
            created_at=str(data["created_at"]),
            finished_at=str(data.get("finished_at", "")),
            kind=str(database["kind"]),
            database_file=str(database["file"]),
            source=str(database.get("source", "")),
            schema_revision=data.get("schema_revision"),
            tools=dict(data.get("tools") or {}),
            files=list(data["files"]),
        )

    @property
    def folder_files(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f.get("area")]


# ----------------------------------------------------------------------------------------------- helpers


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(root: Path, path: Path, area: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path.relative_to(root).as_posix(), "bytes": path.stat().st_size,
                             "sha256": sha256_of(path)}
    if area:
        entry["area"] = area
    return entry


def database_kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持备份 {backend} 数据库（只支持 SQLite 与 PostgreSQL）。")
    return backend


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("内存中的 SQLite 数据库无法备份或恢复，请使用数据库文件。")
    return Path(database)


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _schema_revision(url: str) -> str | None:
    """The Alembic revision stored in the database at `url` (None: built without migrations, or empty)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _table_names(url: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def _walk(folder: Path) -> Iterator[Path]:
    """Regular files under `folder`, sorted; links are not followed (a link could lead anywhere on the server)."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


# ------------------------------------------------------------------------------------------- PostgreSQL


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for `url`: the password travels in the environment, never on a command line."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    for key, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                       ("PGPASSWORD", parsed.password), ("PGDATABASE", parsed.database)):
        if value is not None:
            env[key] = str(value)
    sslmode = parsed.query.get("sslmode")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = sslmode
    return env


def _major(version_text: str) -> int:
    """12 from "pg_dump (PostgreSQL) 12.3", 15 from "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text)
    return int(match.group(1)) if match else 0


def server_major(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()


def find_pg_tool(name: str, major: int) -> tuple[str, str] | None:
    """(path, version) of `name` (pg_dump, pg_restore) no older than the server's major version: PG_BIN_DIR, then
    the server's own /usr/lib/postgresql/<major>/bin, then PATH. An older pg_dump refuses a newer server."""
    candidates = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    candidates.append(Path(f"/usr/lib/postgresql/{major}/bin/{name}"))
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        try:
            version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30,
                                     check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if _major(version) >= major:
            return str(path), version
    return None


def _pg_tool(name: str, url: str) -> tuple[str, str]:
    major = server_major(url)
    found = find_pg_tool(name, major)
    if found is None:
        raise BackupError(f"找不到 PostgreSQL {major} 或更新版本的 {name}：请安装 postgresql-client-{major}，"
                          f"或用环境变量 PG_BIN_DIR 指明其所在目录。")
    return found


def _run_pg(args: list[str], url: str, what: str) -> None:
    try:
        done = subprocess.run(args, env=_pg_env(url), capture_output=True, text=True, timeout=PG_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{what}超时（{PG_TIMEOUT_S} 秒）。") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what}失败（退出码 {done.returncode}）：{' / '.join(detail[-5:])}")


# ------------------------------------------------------------------------------------------------ backup


def backup(database_url: str, folders: dict[str, Path], dest: Path, *, say: Say = log.info) -> Manifest:
    """Take a consistent copy of the database at `database_url` and of `folders` (area name → folder) into `dest`
    (absent or empty), while the server keeps running; returns the manifest, already verified. A backup that fails
    leaves nothing behind in `dest`."""
    kind = database_kind(database_url)
    dest = Path(dest)
    _check_destination(dest, database_url, folders)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _take(kind, database_url, folders, dest, say)
    except BaseException as exc:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:  # it was empty: empty it again
            for child in dest.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupError(f"写入备份目录 {dest} 失败（{exc.strerror or exc}），已删除未完成的备份。") from exc
        raise


def _take(kind: str, database_url: str, folders: dict[str, Path], dest: Path, say: Say) -> Manifest:
    manifest = Manifest(created_at=_now(), kind=kind, database_file="", schema_revision=None,
                        source=redacted(database_url))
    if kind == "sqlite":
        manifest.database_file = SQLITE_FILE
        _backup_sqlite(sqlite_path(database_url), dest / SQLITE_FILE)
        manifest.schema_revision = _schema_revision(f"sqlite:///{dest / SQLITE_FILE}")
        manifest.tools["sqlite"] = sqlite3.sqlite_version
    else:
        manifest.database_file = PG_FILE
        manifest.schema_revision = _schema_revision(database_url)
        tool, version = _pg_tool("pg_dump", database_url)
        manifest.tools["pg_dump"] = version
        _run_pg([tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={dest / PG_FILE}"],
                database_url, "pg_dump 备份数据库")
    say(f"数据库已备份（{manifest.database_file}，结构版本 {manifest.schema_revision or '无'}）")
    manifest.files.append(_entry(dest, dest / manifest.database_file))

    for area, folder in folders.items():
        copied = _copy_folder(Path(folder), dest / FILES / area, dest, area)
        manifest.files.extend(copied)
        say(f"文件目录 {area}：{len(copied)} 个文件")
    manifest.finished_at = _now()
    _write_manifest(dest, manifest)
    verify(dest)
    return manifest


def _check_destination(dest: Path, database_url: str, folders: dict[str, Path]) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"备份目录 {dest} 已存在且不为空：请指定一个新目录。")
    for area, folder in folders.items():
        # A backup written inside a folder it copies would copy itself (issue 13, finding 1).
        if _within(dest, Path(folder)) or _within(Path(folder), dest):
            raise BackupError(f"备份目录 {dest} 与要备份的文件目录 {area}（{folder}）重叠，请换一个目录。")
    if database_kind(database_url) == "sqlite" and _within(sqlite_path(database_url), dest):
        raise BackupError(f"备份目录 {dest} 包含数据库文件本身，请换一个目录。")


def _backup_sqlite(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"数据库文件 {source} 不存在。")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        # pages=-1: the whole database in one step, one read transaction, so one snapshot; a copy in several
        # steps would start again whenever the exam server wrote in between (which, during a sitting, is always).
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file, no -wal beside it
        problem = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"备份的数据库副本未通过完整性检查：{problem}")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite 备份失败：{exc}") from exc
    finally:
        dst.close()
        src.close()


def _copy_folder(folder: Path, target: Path, root: Path, area: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    if not folder.is_dir():
        return entries
    for path in _walk(folder):
        copy = target / path.relative_to(folder)
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, copy)
        except FileNotFoundError:  # a job's upload deleted while we walked: it was on its way out
            continue
        entries.append(_entry(root, copy, area))  # the hash of what was copied, even if the original changes next
    return entries


def _write_manifest(dest: Path, manifest: Manifest) -> None:
    partial = dest / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest.as_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(partial, dest / MANIFEST)  # present only once complete


# ------------------------------------------------------------------------------------------------ verify


def read_manifest(src: Path) -> Manifest:
    path = Path(src) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} 中没有 {MANIFEST}：不是备份目录，或备份没有完成。")
    try:
        manifest = Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{path} 无法读取：{exc}") from exc
    if manifest.format != FORMAT:
        raise BackupError(f"备份格式版本 {manifest.format} 不受支持（本程序为 {FORMAT}）。")
    if manifest.kind not in ("sqlite", "postgresql"):
        raise BackupError(f"备份的数据库类型 {manifest.kind} 不受支持。")
    return manifest


def _inside(src: Path, relative: str) -> Path:
    """The file `relative` of a backup, refused if a (tampered) manifest names one outside it."""
    path = Path(src) / relative
    if Path(relative).is_absolute() or ".." in Path(relative).parts or not _within(path, Path(src)):
        raise BackupError(f"备份清单中的路径 {relative!r} 不合规。")
    return path


def verify(src: Path) -> Manifest:
    """Check every file of the backup at `src` against its manifest (size and SHA-256); raise BackupError
    listing what differs."""
    manifest = read_manifest(src)
    problems: list[str] = []
    if not manifest.files or manifest.files[0]["path"] != manifest.database_file:
        problems.append("清单中没有数据库文件")
    for entry in manifest.files:
        path = _inside(src, entry["path"])
        if not path.is_file():
            problems.append(f"{entry['path']} 缺失")
        elif path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['path']} 与清单不符（已损坏或被改动）")
    if problems:
        raise BackupError(f"备份 {src} 校验未通过：{'；'.join(problems[:20])}", problems=problems)
    return manifest


# ----------------------------------------------------------------------------------------------- restore


def restore(src: Path, database_url: str, folders: dict[str, Path], *, force: bool = False,
            say: Say = log.info) -> Manifest:
    """Load the backup at `src` into the database at `database_url` (which must be empty unless `force`), copy
    its files into `folders` (area → folder; an area not given is skipped), then upgrade the schema to head.
    Forced over a database in use, stop its servers first: a process holding the old SQLite file open goes on
    reading it, and pg_restore --clean waits for their locks."""
    manifest = verify(src)
    kind = database_kind(database_url)
    if kind != manifest.kind:
        raise BackupError(f"这是 {manifest.kind} 数据库的备份，不能恢复到 {kind} 数据库。")
    _check_files_restorable(src, manifest, folders, force)
    if kind == "sqlite":
        _restore_sqlite(Path(src) / manifest.database_file, database_url, force)
    else:
        _restore_postgresql(Path(src) / manifest.database_file, database_url, force)
    say(f"数据库已恢复到 {redacted(database_url)}")
    copied = _restore_files(src, manifest, folders)
    say(f"文件已恢复：{copied} 个")
    if manifest.schema_revision is None:
        say("备份中没有数据库结构版本记录（不是用 examctl init-db 建的库），未升级结构。")
    else:
        upgrade_to_head(database_url)
        say(f"数据库结构已升级到最新版本（备份时为 {manifest.schema_revision}）")
    return manifest


def _refuse_non_empty(database_url: str, force: bool) -> None:
    try:
        tables = _table_names(database_url)
    except SQLAlchemyError as exc:
        raise BackupError(f"无法连接目标数据库 {redacted(database_url)}：{exc.__class__.__name__}"
                          "（PostgreSQL 请先用 createdb 建一个新库）。") from exc
    if tables and not force:
        raise BackupError(f"目标数据库 {redacted(database_url)} 不是空库（已有 {len(tables)} 张表）："
                          "请恢复到一个新库，或加 --force 覆盖。")


def _restore_sqlite(copy: Path, database_url: str, force: bool) -> None:
    target = sqlite_path(database_url)
    if target.exists():
        _refuse_non_empty(database_url, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, partial)
    for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)  # a journal of the old database would be replayed into the restored one
    os.replace(partial, target)


def _restore_postgresql(dump: Path, database_url: str, force: bool) -> None:
    _refuse_non_empty(database_url, force)
    tool, _version = _pg_tool("pg_restore", database_url)
    args = [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
            f"--dbname={make_url(database_url).database}"]
    if force:
        args += ["--clean", "--if-exists"]
    _run_pg([*args, str(dump)], database_url, "pg_restore 恢复数据库")


def _target_of(folders: dict[str, Path], entry: dict[str, Any]) -> Path | None:
    folder = folders.get(entry["area"])
    if folder is None:
        return None
    relative = Path(entry["path"]).relative_to(Path(FILES) / entry["area"])
    target = Path(folder) / relative
    if ".." in relative.parts or not _within(target, Path(folder)):
        raise BackupError(f"备份清单中的路径 {entry['path']!r} 不合规。")
    return target


def _check_files_restorable(src: Path, manifest: Manifest, folders: dict[str, Path], force: bool) -> None:
    """Refuse, before anything is written, to overwrite a different file unless forced."""
    if force:
        return
    clashes = []
    for entry in manifest.folder_files:
        target = _target_of(folders, entry)
        if target is not None and target.exists() and sha256_of(target) != entry["sha256"]:
            clashes.append(str(target))
    if clashes:
        raise BackupError(f"目标目录中已有 {len(clashes)} 个不同的同名文件（如 {clashes[0]}）：加 --force 覆盖。")


def _restore_files(src: Path, manifest: Manifest, folders: dict[str, Path]) -> int:
    copied = 0
    for entry in manifest.folder_files:
        target = _target_of(folders, entry)
        if target is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_inside(src, entry["path"]), target)
        copied += 1
    return copied

"""The restore drill: back up mid-sitting while candidates keep saving, restore into a new database, and find every
answer acknowledged before the backup started; and what a backup refuses (a tampered file, a non-empty target)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_ADMIN_URL, Sitting, _postgres_available, need_service
from delivery_support import save, started
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from exam_server.core.migrate import upgrade_to_head
from exam_server.delivery.models import AttemptEvent, Response
from exam_server.ops import backup as backups
from exam_server.ops.cli import backed_up_folders


def _postgres_or_skip() -> None:
    problem = _postgres_available()
    if problem:
        need_service(problem)


def _pg_tools_or_skip(url: str) -> None:
    major = backups.server_major(url)
    for tool in ("pg_dump", "pg_restore"):
        if backups.find_pg_tool(tool, major) is None:
            need_service(f"{tool} of PostgreSQL {major} or newer not found (PG_BIN_DIR, /usr/lib/postgresql, PATH)")


def _create_pg_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The live database, built by the migrations as `examctl init-db` builds it (so it has a schema revision)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'live.db'}"
        upgrade_to_head(url)
        yield url
        return
    _postgres_or_skip()
    url = _create_pg_database("exam_live")
    try:
        _pg_tools_or_skip(url)
        upgrade_to_head(url)
        yield url
    finally:
        _drop_pg_database(url)


@pytest.fixture
def new_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'exam.db'}"
        return
    url = _create_pg_database("exam_restored")
    try:
        yield url
    finally:
        _drop_pg_database(url)


def _engine(url: str) -> Engine:
    return create_engine(url)


class Saver(threading.Thread):
    """Candidate saves answer after answer on their socket until told to stop, noting when each was acknowledged."""

    def __init__(self, sock: Any, attempt_id: int, item_ids: list[int], first_seq: int) -> None:
        super().__init__(daemon=True)
        self.sock, self.attempt_id, self.item_ids, self.seq = sock, attempt_id, item_ids, first_seq
        self.acked: list[tuple[float, str]] = []  # (monotonic time of the acknowledgement, key)
        self.refused: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                item = self.item_ids[self.seq % len(self.item_ids)]
                key = f"bg{self.seq}"
                ack = save(self.sock, self.attempt_id, item, "A" if self.seq % 2 else "B", self.seq, key)
                if ack and ack.get("ok"):
                    self.acked.append((time.monotonic(), key))
                else:
                    self.refused.append(ack)
                self.seq += 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.acked) < count and self.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.error is None and len(self.acked) >= count, (self.error, self.refused)


def _choice_items(items: list[dict]) -> list[int]:
    return [item["item_id"] for item in items if item["type"] == "single"]


def test_restore_drill_mid_sitting(app: Flask, sitting: Sitting, new_database: str, tmp_path: Path) -> None:
    # Candidates 0 and 1 answer; each acknowledged save is remembered by its key.
    acked_before: list[tuple[int, str, int]] = []  # (attempt, key, item)
    socks = []
    for index in (0, 1):
        sock, attempt_id, items = started(app, app.test_client(), sitting, index)
        socks.append(sock)
        for seq, item_id in enumerate(_choice_items(items), start=1):
            ack = save(sock, attempt_id, item_id, "A", seq, key=f"c{index}-{seq}")
            assert ack["ok"], ack
            acked_before.append((attempt_id, f"c{index}-{seq}", item_id))

    # Candidate 2 keeps saving in a thread of its own, before, during and after the backup.
    sock, saver_attempt, items = started(app, app.test_client(), sitting, 2)
    saver = Saver(sock, saver_attempt, _choice_items(items), first_seq=1)
    saver.start()
    saver.wait_for(3)
    dest = tmp_path / "backup"
    backup_started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["backup", str(dest)])
    backup_done = len(saver.acked)
    saver.wait_for(backup_done + 3)  # the sitting goes on after it
    saver.stop.set()
    saver.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert "备份完成并已校验" in result.output
    assert saver.error is None and not saver.refused, (saver.error, saver.refused)
    acked_before += [(saver_attempt, key, 0) for at, key in saver.acked if at < backup_started]

    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    kind = "sqlite" if app.config["DATABASE_URL"].startswith("sqlite") else "postgresql"
    assert manifest["database"]["kind"] == kind
    assert manifest["schema_revision"]

    # Restore into a new database and find every answer acknowledged before the backup started.
    restored = app.test_cli_runner().invoke(args=["restore", str(dest), "--database-url", new_database])
    assert restored.exit_code == 0, restored.output
    assert "恢复完成" in restored.output
    engine = _engine(new_database)
    try:
        with engine.connect() as conn:
            keys = {(a, k) for a, k in conn.execute(
                select(AttemptEvent.attempt_id, AttemptEvent.key).where(AttemptEvent.kind == "save"))}
            answered = {(a, i) for a, i in conn.execute(select(Response.attempt_id, Response.item_version_id)
                                                        .where(Response.value.is_not(None)))}
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    missing = [(a, k) for a, k, _ in acked_before if (a, k) not in keys]
    assert not missing, f"acknowledged before the backup, missing after the restore: {missing}"
    assert all((a, i) in answered for a, _, i in acked_before if i)
    assert revision == manifest["schema_revision"]

    # A second restore into the now non-empty database is refused, and nothing is changed.
    again = app.test_cli_runner().invoke(args=["restore", str(dest), "--database-url", new_database])
    assert again.exit_code != 0 and "不是空库" in again.output
    for s in socks:
        s.disconnect(namespace="/exam")


def test_backup_copies_files_and_verify_finds_tampering(app: Flask, tmp_path: Path) -> None:
    folders = backed_up_folders(app)
    result_file = folders["jobs"] / "7" / "成绩单.xlsx"
    result_file.parent.mkdir(parents=True)
    result_file.write_bytes(b"results of job 7")
    dest = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(dest)]).exit_code == 0
    copy = dest / "files" / "jobs" / "7" / "成绩单.xlsx"
    assert copy.read_bytes() == b"results of job 7"
    assert "备份完好" in app.test_cli_runner().invoke(args=["verify-backup", str(dest)]).output

    copy.write_bytes(b"results of job 8")  # tampered
    verify = app.test_cli_runner().invoke(args=["verify-backup", str(dest)])
    assert verify.exit_code != 0 and "files/jobs/7/成绩单.xlsx 与清单不符" in verify.output

    copy.write_bytes(b"results of job 7")
    elsewhere = {"jobs": tmp_path / "other" / "jobs"}
    target_url = f"sqlite:///{tmp_path / 'other' / 'exam.db'}" if app.config["DATABASE_URL"].startswith("sqlite") \
        else None
    if target_url:  # the files land in the target's folders
        backups.restore(dest, target_url, elsewhere)
        assert (elsewhere["jobs"] / "7" / "成绩单.xlsx").read_bytes() == b"results of job 7"


def test_backup_refuses_a_folder_inside_what_it_copies(app: Flask) -> None:
    inside = backed_up_folders(app)["jobs"] / "backup"
    result = app.test_cli_runner().invoke(args=["backup", str(inside)])
    assert result.exit_code != 0 and "重叠" in result.output
    assert not inside.exists()


def test_backup_refuses_a_non_empty_destination(app: Flask, tmp_path: Path) -> None:
    dest = tmp_path / "used"
    dest.mkdir()
    (dest / "x").write_text("x")
    result = app.test_cli_runner().invoke(args=["backup", str(dest)])
    assert result.exit_code != 0 and "不为空" in result.output


def test_a_manifest_naming_a_file_outside_the_backup_is_refused(app: Flask, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(dest)]).exit_code == 0
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"].append({"path": "../../etc/passwd", "bytes": 1, "sha256": "0", "area": "jobs"})
    (dest / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["verify-backup", str(dest)])
    assert result.exit_code != 0 and "不合规" in result.output


def test_force_restores_over_a_non_empty_database(app: Flask, sitting: Sitting, new_database: str,
                                                  tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(dest)]).exit_code == 0
    runner = app.test_cli_runner()
    assert runner.invoke(args=["restore", str(dest), "--database-url", new_database]).exit_code == 0
    engine = _engine(new_database)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_event"))  # the restored copy drifts from the backup
        engine.dispose()  # a SQLite connection kept open would go on reading the replaced file
        forced = runner.invoke(args=["restore", str(dest), "--database-url", new_database, "--force"])
        assert forced.exit_code == 0, forced.output
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar() > 0
    finally:
        engine.dispose()


def test_a_backup_restores_only_into_its_kind_of_database(app: Flask, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    assert app.test_cli_runner().invoke(args=["backup", str(dest)]).exit_code == 0
    other = ("postgresql+psycopg2://nobody@127.0.0.1:1/x" if app.config["DATABASE_URL"].startswith("sqlite")
             else f"sqlite:///{tmp_path / 'x.db'}")
    result = app.test_cli_runner().invoke(args=["restore", str(dest), "--database-url", other])
    assert result.exit_code != 0 and "不能恢复到" in result.output


def test_a_failed_backup_leaves_nothing_behind(tmp_path: Path) -> None:
    for dest in (tmp_path / "new", tmp_path / "empty"):
        if dest.name == "empty":
            dest.mkdir()
        with pytest.raises(backups.BackupError, match="不存在"):
            backups.backup(f"sqlite:///{tmp_path / 'missing.db'}", {}, dest)
        assert not dest.exists() or not any(dest.iterdir())

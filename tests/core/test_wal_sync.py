"""The commits of one turn of the exam server's event loop share one disk sync of SQLite's write-ahead log, and
none returns before it (core/walsync.py, issue 17): a save is acknowledged only once it is on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from item_bank.db import make_engine, sync_file, wal_path

pytest.importorskip("gevent")

ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own: gevent's patches must come first, as in `examctl run`.
SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import json, sqlite3, sys
    import gevent
    from sqlalchemy import text
    from exam_server.core import walsync
    from item_bank.db import begin_write, make_engine, make_session_factory

    url, failing = sys.argv[1], []
    path = url.removeprefix("sqlite:///")
    events = []
    real_sync = walsync.sync_file

    def watched_sync(log_path):
        # What another connection sees when the sync runs: every commit of the turn is already made.
        with sqlite3.connect(path) as reader:
            events.append(("sync", log_path, reader.execute("SELECT count(*) FROM answer").fetchone()[0]))
        if failing:  # a disk that fails its sync
            raise OSError(5, "Input/output error")
        real_sync(log_path)

    walsync.sync_file = watched_sync
    shared = walsync.TurnSync()
    engine = make_engine(url, wal_sync=shared, pool_size=20, max_overflow=5)  # a connection per commit waiting
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE answer (v INTEGER)"))
    events.clear()
    shared.syncs = shared.commits = 0  # the table's creation had its own
    if sys.argv[2] == "fail":
        failing.append(True)
    with engine.connect() as conn:
        synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()

    def save(i):
        session = make_session_factory(engine)()
        begin_write(session)
        session.execute(text("INSERT INTO answer VALUES (:v)"), {"v": i})
        try:
            session.commit()
            events.append(("returned", i))
        except OSError as exc:
            events.append(("raised", i, str(exc)))
        finally:
            session.close()

    gevent.joinall([gevent.spawn(save, i) for i in range(20)], timeout=60)
    then = len(events)
    save(20)  # alone in its turn
    print(json.dumps({"synchronous": synchronous, "events": events, "second_turn_from": then,
                      "syncs": shared.syncs, "commits": shared.commits}))
""")


def _run(tmp_path: Path, mode: str = "ok") -> dict:
    result = subprocess.run([sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'exam.db'}", mode], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_commits_of_a_turn_share_one_sync_and_return_after_it(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert out["synchronous"] == 1  # NORMAL: SQLite leaves the sync to the server
    events = [tuple(e) for e in out["events"]]
    first_turn, second_turn = events[:out["second_turn_from"]], events[out["second_turn_from"]:]
    wal = str(tmp_path / "exam.db") + "-wal"
    # Twenty saves in one turn: one sync, made after all twenty commits, and no commit returned before it.
    assert first_turn[0] == ("sync", wal, 20)
    assert sorted(e[1] for e in first_turn[1:]) == list(range(20))
    assert all(e[0] == "returned" for e in first_turn[1:])
    # A save alone in a later turn has its own sync.
    assert second_turn == [("sync", wal, 21), ("returned", 20)]
    assert (out["syncs"], out["commits"]) == (2, 21)


def test_a_failed_sync_fails_every_commit_that_waited_for_it(tmp_path: Path) -> None:
    out = _run(tmp_path, "fail")
    raised = [e for e in out["events"] if e[0] == "raised"]
    assert len(raised) == 21 and all("Input/output error" in e[2] for e in raised)
    assert not [e for e in out["events"] if e[0] == "returned"]  # nothing was acknowledged


def test_an_engine_without_a_shared_sync_syncs_every_commit_itself(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'exam.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_a_database_in_memory_has_no_log_to_sync() -> None:
    calls: list[str] = []
    engine = make_engine("sqlite://", wal_sync=calls.append)
    assert wal_path(engine) is None
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    assert calls == []


def test_the_commits_of_an_engine_with_a_sync_call_it_after_they_are_made(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []
    database = tmp_path / "exam.db"

    def sync(path: str) -> None:
        import sqlite3

        with sqlite3.connect(database) as reader:  # the commit is visible to others before the sync
            count = reader.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        seen.append((path, count))
        sync_file(path)

    engine = make_engine(f"sqlite:///{database}", wal_sync=sync)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    assert seen == [(str(database) + "-wal", 1)]
    engine.dispose()


def test_the_served_app_shares_its_syncs_only_under_gevent(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        if sys.argv[1] == "gevent":
            from gevent import monkey
            monkey.patch_all()
        from exam_server.app import create_app
        from exam_server.extensions import db
        app = create_app({"DATABASE_URL": sys.argv[2], "RUN_BACKGROUND_TASKS": False, "TESTING": True})
        with app.app_context():
            synchronous = db.session.connection().exec_driver_sql("PRAGMA synchronous").scalar()
        print(type(db.wal_sync).__name__, synchronous)
    """)
    lines = []
    for mode in ("gevent", "threads"):
        url = f"sqlite:///{tmp_path / (mode + '.db')}"
        result = subprocess.run([sys.executable, "-c", script, mode, url], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        lines.append(result.stdout.strip().splitlines()[-1])
    assert lines == ["TurnSync 1", "NoneType 2"]

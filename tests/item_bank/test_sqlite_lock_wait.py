"""A writer waiting for SQLite's write lock lets the rest of a gevent server run (the exam server is one process of
greenlets: a wait inside SQLite's busy handler had frozen every candidate's socket while a job worker wrote)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("gevent")

SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import sqlite3, sys, time
    import gevent
    from sqlalchemy import text
    from item_bank.db import begin_write, make_engine, make_session_factory

    url = sys.argv[1]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE answer (v INTEGER)"))
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer (a job) holds the lock
    ticks = []
    wrote = []

    def ticker():
        while not wrote:
            ticks.append(1)
            gevent.sleep(0.01)

    def writer():
        session = make_session_factory(engine)()
        begin_write(session)
        session.execute(text("INSERT INTO answer VALUES (1)"))
        session.commit()
        wrote.append(len(ticks))

    def release():
        while len(ticks) < 20:  # the writer is waiting and the ticker runs beside it
            gevent.sleep(0.01)
        holder.execute("COMMIT")

    gevent.joinall([gevent.spawn(ticker), gevent.spawn(writer), gevent.spawn(release)], timeout=60)
    print("wrote after", wrote[0] if wrote else None, "ticks")
    sys.exit(0 if wrote and wrote[0] >= 20 else 1)
""")


def test_a_writer_waiting_for_the_lock_does_not_stop_other_greenlets(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'lock.db'}"], cwd=root,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

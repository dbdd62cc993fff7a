"""Group commit (item_bank.db.GroupCommit): the direct writes that arrive together share one SQLite transaction and
one COMMIT, each in a savepoint of its own, and none of them learns its outcome before that COMMIT.

The threads here stand in for the exam server's greenlets: the group's first member, once its own part is done,
lets the others join (`_let_others_join`); the tests make that moment wait for the second session, so both are in
one group every time.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from direct_write_support import BY_KEY, INSERT, direct_session, metadata, probe_engine, probe_keys
from sqlalchemy import Column, ForeignKey, Integer, Table, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

import item_bank.db
from item_bank.db import (
    DirectWriteSession,
    _Member,
    begin_write,
    group_commit,
    run_direct,
)

# A foreign key checked at COMMIT: a member can break it and the group's COMMIT then fails, for every member.
parent = Table("parent", metadata, Column("id", Integer, primary_key=True))
child = Table("child", metadata, Column("id", Integer, primary_key=True),
              Column("parent_id", Integer, ForeignKey("parent.id", deferrable=True, initially="DEFERRED")))
INSERT_CHILD = insert(child)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from probe_engine(tmp_path / "group.db")


_keys, _session = probe_keys, direct_session


class _Second:
    """A second session's work, run in a thread while the group's first member lets others join."""

    def __init__(self, work: Callable[[DirectWriteSession], Any], session: DirectWriteSession) -> None:
        self.session, self.work = session, work
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.waiting = threading.Event()  # it has done its part and waits for the group's outcome
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.work(self.session)
        except BaseException as exc:  # reported to the test
            self.error = exc
        finally:
            self.finished.set()

    def start_and_wait_until_it_waits_for_the_group(self) -> None:
        self.thread.start()
        assert self.waiting.wait(10), "the second session never came to wait for the group's COMMIT"


def _with_second(monkeypatch: pytest.MonkeyPatch, engine: Engine, second: _Second,
                 while_open: Callable[[], None] = lambda: None) -> None:
    """Make the group's first member let `second` in (and run `while_open` then) before it commits."""
    seen: list[bool] = []
    outcome = _Member.outcome

    def let_in() -> None:
        if seen:
            return
        seen.append(True)
        second.start_and_wait_until_it_waits_for_the_group()
        while_open()

    def waited_for(member: _Member) -> None:
        if threading.current_thread() is second.thread:
            second.waiting.set()
        outcome(member)

    monkeypatch.setattr(group_commit(engine), "_let_others_join", let_in)
    monkeypatch.setattr(_Member, "outcome", waited_for)


def test_two_writes_share_one_commit_and_neither_returns_before_it(engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def second_work(session: DirectWriteSession) -> str:
        run_direct(session, INSERT, {"key": "second"}, begin=True)
        session.commit()
        return "committed"

    second = _Second(second_work, _session(engine))
    seen_while_open: list[Any] = []

    def while_open() -> None:
        # Both have done their statements; the group has not committed: nothing is durable, nobody has returned.
        seen_while_open.extend([_keys(engine), second.finished.is_set(), engine.pool.checkedout()])  # type: ignore[attr-defined]

    _with_second(monkeypatch, engine, second, while_open)
    first = _session(engine)
    run_direct(first, INSERT, {"key": "first"}, begin=True)
    first.commit()
    assert second.finished.wait(10) and second.error is None and second.result == "committed"
    assert seen_while_open == [[], False, 1]  # one connection held the one transaction of both
    assert _keys(engine) == ["first", "second"]
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_member_rolled_back_undoes_its_own_part_only_and_waits_for_the_commit(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def second_work(session: DirectWriteSession) -> Any:
        run_direct(session, INSERT, {"key": "undone"}, begin=True)
        # It reads the first member's write, not yet committed: so its rollback, too, returns only after the
        # COMMIT (a resend's acknowledgement read from the log must not be sent before that log row is durable).
        seen = run_direct(session, BY_KEY, {"key": "kept"})
        session.rollback()
        return seen.one_or_none().key if seen else None

    second = _Second(second_work, _session(engine))
    finished_before_commit: list[bool] = []
    _with_second(monkeypatch, engine, second, lambda: finished_before_commit.append(second.finished.is_set()))
    first = _session(engine)
    run_direct(first, INSERT, {"key": "kept"}, begin=True)
    first.commit()
    assert second.finished.wait(10) and second.error is None
    assert second.result == "kept" and finished_before_commit == [False]
    assert _keys(engine) == ["kept"]


def test_a_failed_statement_stays_in_its_own_savepoint(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def second_work(session: DirectWriteSession) -> str:
        run_direct(session, INSERT, {"key": "also"}, begin=True)
        try:
            run_direct(session, INSERT, {"key": "taken"})  # the first member's key, in the same transaction
        except IntegrityError:
            session.rollback()
            return "refused"
        session.commit()
        return "committed"

    second = _Second(second_work, _session(engine))
    _with_second(monkeypatch, engine, second)
    first = _session(engine)
    run_direct(first, INSERT, {"key": "taken"}, begin=True)
    first.commit()
    assert second.finished.wait(10) and second.result == "refused"
    assert _keys(engine) == ["taken"]


def test_a_failed_commit_is_every_members_error_and_nothing_is_kept(engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def second_work(session: DirectWriteSession) -> None:
        run_direct(session, INSERT_CHILD, {"parent_id": 404}, begin=True)  # no such parent: found at COMMIT
        session.commit()

    second = _Second(second_work, _session(engine))
    _with_second(monkeypatch, engine, second)
    first = _session(engine)
    run_direct(first, INSERT, {"key": "lost"}, begin=True)
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        first.commit()
    assert second.finished.wait(10) and isinstance(second.error, IntegrityError)
    assert _keys(engine) == [] and engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    later = _session(engine)  # the lock was let go, and the next group begins afresh
    monkeypatch.undo()
    run_direct(later, INSERT, {"key": "next"}, begin=True)
    later.commit()
    assert _keys(engine) == ["next"]


def test_a_close_does_not_wait_but_the_group_still_commits_the_others(engine: Engine,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def second_work(session: DirectWriteSession) -> None:
        run_direct(session, INSERT, {"key": "kept"}, begin=True)
        session.commit()

    second = _Second(second_work, _session(engine))
    _with_second(monkeypatch, engine, second)
    first = _session(engine)
    run_direct(first, INSERT, {"key": "closed"}, begin=True)
    first.close()  # the first member: it still commits the group it began
    assert second.finished.wait(10) and second.error is None
    assert _keys(engine) == ["kept"] and engine.pool.checkedout() == 0  # type: ignore[attr-defined]


GEVENT_GROUPS = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import sys
    import gevent
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
    from item_bank.db import GroupCommit, make_engine, make_session_factory, run_direct

    metadata = MetaData()
    probe = Table("probe", metadata, Column("id", Integer, primary_key=True), Column("key", String(20)))
    engine = make_engine("sqlite:///" + sys.argv[1])
    metadata.create_all(engine)
    commits = []
    original = GroupCommit._commit
    def counted(self, group):
        commits.append(1)
        original(self, group)
    GroupCommit._commit = counted
    factory = make_session_factory(engine)

    def save(n):
        session = factory()
        run_direct(session, insert(probe), {"key": str(n)}, begin=True)
        session.commit()
        session.close()

    gevent.joinall([gevent.spawn(save, n) for n in range(200)], raise_error=True)
    with engine.connect() as conn:
        stored = len(list(conn.execute(select(probe.c.id))))
    print(stored, len(commits))
""")


def test_under_gevent_the_writes_ready_together_commit_together(tmp_path: Path) -> None:
    """The exam server's own set-up: 200 greenlets saving at once make far fewer COMMITs than saves, and every save
    is stored."""
    result = subprocess.run([sys.executable, "-c", GEVENT_GROUPS, str(tmp_path / "gevent.db")], capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-3000:]
    stored, commits = map(int, result.stdout.split())
    assert stored == 200
    assert 1 <= commits <= 20, commits


def test_a_writer_outside_the_groups_is_begun_by_a_groups_commit_before_the_next_group(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start's or a submit's ORM transaction waits in line while a group is open, and the group's COMMIT begins it:
    a save arriving after that waits for it, so a stream of saves' groups cannot keep the lock from it for ever."""
    commits = group_commit(engine)
    outside_begun, go_on, outside_done = threading.Event(), threading.Event(), threading.Event()

    def outside() -> None:
        session = _session(engine)
        begin_write(session)  # BEGIN IMMEDIATE on its own connection: between two groups
        outside_begun.set()
        go_on.wait(10)
        session.execute(INSERT, {"key": "outside"})
        session.commit()
        outside_done.set()

    writer = threading.Thread(target=outside, daemon=True)

    def let_in() -> None:
        writer.start()
        for _ in range(1000):
            if commits._outside:
                break
            time.sleep(0.005)
        assert commits._outside and not outside_begun.is_set()  # in line while the group is open

    monkeypatch.setattr(commits, "_let_others_join", let_in)
    monkeypatch.setattr(item_bank.db, "ASK_AGAIN_S", 60.0)  # it would not ask again by itself within the test
    first = _session(engine)
    run_direct(first, INSERT, {"key": "first"}, begin=True)
    first.commit()
    monkeypatch.undo()
    assert outside_begun.wait(10)  # begun by the COMMIT
    third_done = threading.Event()

    def third() -> None:
        session = _session(engine)
        run_direct(session, INSERT, {"key": "third"}, begin=True)
        session.commit()
        third_done.set()

    threading.Thread(target=third, daemon=True).start()
    assert not third_done.wait(0.3)  # the next group waits for the writer that was let in
    go_on.set()
    assert outside_done.wait(10) and third_done.wait(10)
    assert _keys(engine) == ["first", "outside", "third"]


def test_a_writer_interrupted_in_line_leaves_it(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that stops waiting (its greenlet killed, say) is taken out of the line: a COMMIT that began a
    transaction for it would leave the lock with a connection nobody uses."""
    commits = group_commit(engine)
    errors: list[BaseException] = []

    class Interrupted(Exception):
        pass

    def interrupted_wait(self: threading.Event, timeout: float | None = None) -> bool:
        raise Interrupted

    def outside() -> None:
        session = _session(engine)
        try:
            begin_write(session)
        except Interrupted as exc:
            errors.append(exc)
        finally:
            session.close()

    def let_in() -> None:
        monkeypatch.setattr(item_bank.db._Outside, "__init__", _interrupted_outside(interrupted_wait))
        writer = threading.Thread(target=outside)
        writer.start()
        writer.join(10)

    monkeypatch.setattr(commits, "_let_others_join", let_in)
    first = _session(engine)
    run_direct(first, INSERT, {"key": "first"}, begin=True)
    first.commit()
    monkeypatch.undo()
    assert errors and not commits._outside
    later = _session(engine)  # the lock is free: the next group begins at once
    run_direct(later, INSERT, {"key": "next"}, begin=True)
    later.commit()
    assert _keys(engine) == ["first", "next"]


def _interrupted_outside(wait: Callable[..., bool]) -> Callable[..., None]:
    original = item_bank.db._Outside.__init__

    def made(self: Any, raw: Any) -> None:
        original(self, raw)
        self.begun.wait = wait.__get__(self.begun)  # type: ignore[method-assign]

    return made

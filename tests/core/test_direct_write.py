"""A session's direct write (item_bank.db.DirectWriteSession): an SQLite write transaction on a pooled driver
connection of its own, ended by the session's own commit, rollback and close, so no path leaves it open or its
connection out of the pool; and refused where the session would otherwise wait for the lock it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from direct_write_support import BY_KEY, INSERT, direct_session, metadata, probe_engine, probe_keys
from sqlalchemy import String, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from item_bank.db import begin_write, make_engine, make_session_factory, run_direct


class _Base(DeclarativeBase):
    metadata = metadata


class Note(_Base):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from probe_engine(tmp_path / "direct.db")


_keys, _session = probe_keys, direct_session


def test_a_direct_write_is_seen_by_others_only_once_the_session_commits(engine: Engine) -> None:
    session = _session(engine)
    assert run_direct(session, INSERT, {"key": "k1"}) is None  # none open, none asked for
    assert run_direct(session, INSERT, {"key": "k1"}, begin=True) == []
    assert run_direct(session, INSERT, {"key": "k2"}) == []  # the open one goes on
    row = run_direct(session, BY_KEY, {"key": "k2"})
    assert row is not None and row.one_or_none().key == "k2"  # its own writes, read in it
    assert session.in_direct_write and not session.in_transaction()
    assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    assert _keys(engine) == []  # uncommitted
    session.commit()
    assert not session.in_direct_write and engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert _keys(engine) == ["k1", "k2"]


@pytest.mark.parametrize("end", ["rollback", "close", "invalidate"])
def test_rollback_close_and_invalidate_discard_it_and_give_the_connection_back(engine: Engine, end: str) -> None:
    session = _session(engine)
    run_direct(session, INSERT, {"key": "gone"}, begin=True)
    getattr(session, end)()
    assert not session.in_direct_write and engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert _keys(engine) == []
    with engine.begin() as conn:  # the write lock was let go: another writer gets it at once
        conn.execute(INSERT, {"key": "next"})
    assert _keys(engine) == ["next"]


def test_a_taken_key_is_sqlalchemys_integrity_error_and_a_rollback_ends_it(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(INSERT, {"key": "k"})
    session = _session(engine)
    run_direct(session, INSERT, {"key": "mine"}, begin=True)
    with pytest.raises(IntegrityError):
        run_direct(session, INSERT, {"key": "k"})
    session.rollback()
    assert _keys(engine) == ["k"] and engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_the_sessions_own_transaction_is_used_instead_when_it_is_open(engine: Engine) -> None:
    session = _session(engine)
    session.execute(text("SELECT 1"))
    assert session.in_transaction()
    assert session.direct_write() is None and run_direct(session, INSERT, {"key": "k"}, begin=True) is None
    session.rollback()


def test_what_would_wait_for_its_own_lock_is_refused_but_orm_reads_go_on(engine: Engine) -> None:
    session = _session(engine)
    with engine.begin() as conn:
        conn.execute(insert(Note), {"text": "before"})
    run_direct(session, INSERT, {"key": "k"}, begin=True)
    assert session.scalars(select(Note.text)).all() == ["before"]  # another connection: committed rows only
    with pytest.raises(RuntimeError, match="direct write"):
        begin_write(session)
    session.add(Note(text="later"))
    with pytest.raises(RuntimeError, match="direct write"):
        session.flush()
    session.rollback()
    session.add(Note(text="later"))
    session.commit()  # after it: the ORM writes as ever
    assert session.scalars(select(Note.text).order_by(Note.id)).all() == ["before", "later"]
    session.close()


def test_a_commit_with_orm_changes_commits_both(engine: Engine) -> None:
    session = _session(engine)
    run_direct(session, INSERT, {"key": "k"}, begin=True)
    session.commit()
    session.add(Note(text="orm"))
    session.commit()
    assert _keys(engine) == ["k"]
    with engine.connect() as conn:
        assert list(conn.scalars(select(Note.text))) == ["orm"]


def test_a_plain_session_and_other_databases_have_none(engine: Engine, postgres_server_url: str) -> None:
    from sqlalchemy.orm import Session

    assert run_direct(Session(engine), INSERT, {"key": "k"}, begin=True) is None
    pg_engine = make_engine(postgres_server_url)
    try:
        pg = make_session_factory(pg_engine)()
        assert pg.direct_write() is None
        assert run_direct(pg, INSERT, {"key": "k"}, begin=True) is None
        pg.close()
    finally:
        pg_engine.dispose()

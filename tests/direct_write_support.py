"""A probe table on an SQLite file of its own, for the tests of the direct write and its group commit
(item_bank.db.DirectWriteSession, GroupCommit). A test module may add tables of its own to `metadata`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.engine import Engine

from item_bank.db import DirectWriteSession, make_engine, make_session_factory

metadata = MetaData()
probe = Table("probe", metadata, Column("id", Integer, primary_key=True), Column("key", String(20), unique=True))
INSERT = insert(probe)
BY_KEY = select(probe.c.id, probe.c.key).where(probe.c.key == bindparam("key", type_=String))
KEYS = select(probe.c.key).order_by(probe.c.id)


def probe_engine(path: Path) -> Iterator[Engine]:
    """An engine on a new database at `path` with every table of `metadata` (for a fixture to yield from)."""
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def probe_keys(engine: Engine) -> list[str]:
    """The probe rows' keys as committed, in the order they were written."""
    with engine.connect() as conn:
        return list(conn.scalars(KEYS))


def direct_session(engine: Engine) -> DirectWriteSession:
    session = make_session_factory(engine)()
    assert isinstance(session, DirectWriteSession)
    return session

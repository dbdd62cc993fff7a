"""On SQLite the delivery store runs its statements prepared on the driver's connection (item_bank.db.run_prepared):
what they write and read is what SQLAlchemy would have written and read, through the same type processors; what
needs SQLAlchemy (a default computed in Python) is left to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, bindparam, case, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from item_bank.db import UTCDateTime, make_engine, run_prepared, utcnow

metadata = MetaData()
probe = Table(
    "probe", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(20), unique=True),
    Column("at", UTCDateTime()),
    Column("payload", JSON),
    Column("seq", Integer, nullable=False, default=0),
    Column("note", String(20), default=lambda: "python"),
)
INSERT = insert(probe)
TOUCH = update(probe).where(probe.c.id == bindparam("b_id")).values(
    seq=case((probe.c.seq < bindparam("b_seq", type_=Integer), bindparam("b_seq", type_=Integer)),
             else_=probe.c.seq))
READ = select(probe.c.id, probe.c.key, probe.c.at, probe.c.payload, probe.c.seq).where(
    probe.c.key == bindparam("key", type_=String))
ALL = select(probe.c.id, probe.c.seq).order_by(probe.c.id)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'prepared.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _row(engine: Engine, statement: Any, params: dict[str, Any]) -> Any:
    with engine.connect() as conn:
        return conn.execute(statement, params).one_or_none()


def test_a_prepared_write_and_read_match_sqlalchemys(engine: Engine) -> None:
    at = utcnow().replace(microsecond=123456)
    payload = {"value": "AB", "中文": [1, 2]}
    with engine.begin() as conn:
        assert run_prepared(conn, INSERT, {"key": "k1", "at": at, "payload": payload, "seq": 1, "note": "n"}) == []
        conn.execute(INSERT, {"key": "k2", "at": at, "payload": payload, "seq": 1, "note": "n"})  # SQLAlchemy's
        assert run_prepared(conn, TOUCH, {"b_id": 1, "b_seq": 5}) == []
        assert run_prepared(conn, TOUCH, {"b_id": 1, "b_seq": 3}) == []  # lower: kept
        conn.execute(TOUCH, {"b_id": 2, "b_seq": 5})
    with engine.connect() as conn:
        mine = run_prepared(conn, READ, {"key": "k1"})
        theirs = run_prepared(conn, READ, {"key": "k2"})
        both = run_prepared(conn, ALL, {})
    assert mine is not None and theirs is not None and both is not None
    stored = _row(engine, READ, {"key": "k1"})
    assert mine.one_or_none()._asdict() == stored._asdict()  # read back by SQLAlchemy: the same values
    assert mine.one_or_none().at == at and mine.one_or_none().at.tzinfo == dt.UTC
    assert mine.one_or_none().payload == payload and mine.one_or_none().seq == 5
    assert {k: v for k, v in theirs.one_or_none()._asdict().items() if k not in ("id", "key")} == {
        k: v for k, v in stored._asdict().items() if k not in ("id", "key")}
    assert [tuple(r) for r in both] == [(1, 5), (2, 5)] and both.scalar() == 1
    with engine.connect() as conn:
        assert run_prepared(conn, READ, {"key": "none"}).one_or_none() is None  # type: ignore[union-attr]


def test_a_taken_key_is_sqlalchemys_integrity_error_and_the_transaction_goes_on(engine: Engine) -> None:
    with engine.begin() as conn:
        run_prepared(conn, INSERT, {"key": "k", "at": utcnow(), "payload": {}, "seq": 1, "note": "n"})
    with engine.begin() as conn:
        with pytest.raises(IntegrityError):
            run_prepared(conn, INSERT, {"key": "k", "at": utcnow(), "payload": {}, "seq": 2, "note": "n"})
        run_prepared(conn, INSERT, {"key": "k3", "at": utcnow(), "payload": {}, "seq": 3, "note": "n"})
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(ALL)] == [(1, 1), (2, 3)]


def test_a_write_that_needs_a_python_default_is_left_to_sqlalchemy(engine: Engine) -> None:
    with engine.begin() as conn:
        assert run_prepared(conn, INSERT, {"key": "k", "at": utcnow(), "payload": {}}) is None  # seq, note: defaults
        conn.execute(INSERT, {"key": "k", "at": utcnow(), "payload": {}})
    assert _row(engine, select(probe.c.seq, probe.c.note), {}) == (0, "python")


def test_a_wrong_value_is_refused_as_sqlalchemy_refuses_it(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="naive datetime"):
        run_prepared(conn, INSERT, {"key": "k", "at": dt.datetime(2026, 1, 1), "payload": {}, "seq": 1,
                                    "note": "n"})

"""On PostgreSQL a statement run with SERVER_PREPARED (a save's locked read and writes, a rejoin's read, the login
check) is prepared on its connection once, in the round trip of its first run there, and sent as EXECUTE after
that (item_bank.db._ServerPrepared): PostgreSQL no longer parses and plans a whole room's statements one by one.

What reaches the driver is counted at its cursor: every `execute` is one round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from postgres_support import counting_cursor
from sqlalchemy import JSON, Integer, String, bindparam, column, insert, select, table, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from item_bank.db import COMMIT_WITH_STATEMENT, SERVER_PREPARED, UTCDateTime, make_engine, read_one

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SENT: list[str] = []
PREPARED = {SERVER_PREPARED: True}



@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, connect_args={"cursor_factory": counting_cursor(SENT)}, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS prepared_probe"))
        conn.execute(text("CREATE TABLE prepared_probe (id integer PRIMARY KEY, note text, at timestamptz, "
                          "body json)"))
    SENT.clear()
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE prepared_probe"))
    engine.dispose()


PROBE = table("prepared_probe", column("id", Integer), column("note", String), column("at", UTCDateTime()),
              column("body", JSON))
READ = select(PROBE.c.id, PROBE.c.note, PROBE.c.at, PROBE.c.body).where(PROBE.c.id == bindparam("id", type_=Integer))
WRITE = insert(PROBE).values(id=bindparam("id"), note=bindparam("note"), at=bindparam("at"), body=bindparam("body"))
AT = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def _prepared_names(conn: Any) -> set[str]:
    return set(conn.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_a_statement_is_prepared_with_its_first_run_and_executed_after(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(WRITE, {"id": 1, "note": "甲 100%", "at": AT, "body": {"answer": ["A", "C"]}},
                        execution_options=PREPARED)
        session.execute(WRITE, {"id": 2, "note": None, "at": None, "body": None}, execution_options=PREPARED)
        session.commit()
    assert len(SENT) == 3, SENT  # two inserts (BEGIN with the first), then COMMIT
    assert SENT[0].startswith("BEGIN;\nPREPARE exam_") and "$4" in SENT[0] and "\nEXECUTE exam_" in SENT[0]
    assert SENT[1].startswith("EXECUTE exam_") and "PREPARE" not in SENT[1]
    SENT.clear()
    with engine.connect() as conn:
        first = conn.execute(READ, {"id": 1}, execution_options=PREPARED).one()
        second = conn.execute(READ, {"id": 2}, execution_options=PREPARED).one()
    # The values went in and come out through the same types as unprepared: a timezone-aware time, JSON, a literal %.
    assert tuple(first) == (1, "甲 100%", AT, {"answer": ["A", "C"]})
    assert tuple(second) == (2, None, None, None)
    assert "PREPARE" in SENT[0] and SENT[1].startswith("EXECUTE exam_"), SENT


def test_statements_joined_by_a_line_are_prepared_each_and_the_last_ones_rows_returned(engine: Engine) -> None:
    """A locked read is two statements sent together: the lock, then the read that sees what its holder wrote."""
    with engine.begin() as conn:
        conn.execute(WRITE, {"id": 1, "note": "a", "at": AT, "body": {}})
    locked = text("SELECT id FROM prepared_probe WHERE id = :id FOR UPDATE;\n"
                  "SELECT note FROM prepared_probe WHERE id = :id AND note <> :not_note").columns(column("note", String))
    SENT.clear()
    with Session(engine) as session:
        for _ in range(2):
            assert session.execute(locked, {"id": 1, "not_note": "b"}, execution_options=PREPARED).scalar() == "a"
        session.commit()
    assert SENT[0].count("PREPARE exam_") == 2 and SENT[0].count("EXECUTE exam_") == 2, SENT
    assert SENT[1].count("EXECUTE exam_") == 2 and "PREPARE" not in SENT[1], SENT


def test_the_last_statement_still_carries_the_commit(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(WRITE, {"id": 1, "note": "a", "at": AT, "body": {}},
                        execution_options={**PREPARED, COMMIT_WITH_STATEMENT: True})
        session.commit()
    assert len(SENT) == 1 and SENT[0].endswith(";\nCOMMIT"), SENT
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note FROM prepared_probe")).scalar() == "a"


def test_after_a_failed_run_that_prepared_the_statements_are_prepared_again_under_new_names(engine: Engine) -> None:
    """A PREPARE outlives the failure of the statement sent with it: preparing the same name again would fail
    every later run of that statement on the connection."""
    with engine.begin() as conn:
        conn.execute(WRITE, {"id": 1, "note": "a", "at": AT, "body": {}})
    with Session(engine) as session:
        with pytest.raises(IntegrityError):
            session.execute(WRITE, {"id": 1, "note": "taken", "at": AT, "body": {}}, execution_options=PREPARED)
        session.rollback()
        session.execute(text("SELECT 1"))  # a statement of its own in between does not say the PREPARE held
        for key in (2, 3):
            session.execute(WRITE, {"id": key, "note": "b", "at": AT, "body": {}}, execution_options=PREPARED)
        session.commit()
        names = _prepared_names(session.connection())
    assert len(names) == 2 and len({name.split("_")[1] for name in names}) == 2, names  # two generations
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT id FROM prepared_probe ORDER BY id")).scalars()) == [1, 2, 3]


def test_a_run_that_fails_after_its_statement_was_prepared_keeps_it_usable(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(WRITE, {"id": 1, "note": "a", "at": AT, "body": {}}, execution_options=PREPARED)
        session.commit()
        with pytest.raises(IntegrityError):
            session.execute(WRITE, {"id": 1, "note": "again", "at": AT, "body": {}}, execution_options=PREPARED)
        session.rollback()
        session.execute(WRITE, {"id": 2, "note": "b", "at": AT, "body": {}}, execution_options=PREPARED)
        session.commit()
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT id FROM prepared_probe ORDER BY id")).scalars()) == [1, 2]


def test_a_new_connection_prepares_again(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(WRITE, {"id": 1, "note": "a", "at": AT, "body": {}})
    assert read_one(engine, READ, {"id": 1}) is not None
    engine.dispose()  # the pool's connections closed: the next one has nothing prepared
    SENT.clear()
    row = read_one(engine, READ, {"id": 1})
    assert row is not None and row.note == "a"
    assert "PREPARE exam_" in SENT[0], SENT


def test_statements_without_the_option_are_sent_as_they_are(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(WRITE, {"id": 1, "note": "a", "at": AT, "body": {}})
        assert not _prepared_names(conn)
    assert "PREPARE" not in SENT[0] and SENT[0].startswith("BEGIN;\nINSERT INTO prepared_probe")
